package clients

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/jws"
)

// MaxJWKSSize bounds a client's JWKS document, registered or fetched from
// its JWKS URI.
const MaxJWKSSize = 64 << 10

// MaxJWKSKeys bounds the keys of a client's JWKS.
const MaxJWKSKeys = 20

// AssertionAlgorithms are the algorithms a client may sign its assertions
// with (private_key_jwt): asymmetric only, as the server holds only public
// keys.
var AssertionAlgorithms = []string{jws.ES256, jws.RS256, jws.PS256, jws.EdDSA}

// ParseJWKS parses a client's JSON Web Key Set (RFC 7517 §5) into
// verification keys. Every key must be a public signing key (EC P-256, RSA
// of at least 2048 bits, or Ed25519) with a kid unique in the set; a use, if
// given, must be "sig", and an alg, if given, one of AssertionAlgorithms
// that suits the key.
func ParseJWKS(doc []byte) ([]*jws.Key, error) {
	if len(doc) > MaxJWKSSize {
		return nil, fmt.Errorf("the JWKS is larger than %d KiB", MaxJWKSSize>>10)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, errors.New("the JWKS is not a JSON object with a keys array")
	}
	switch {
	case len(raw.Keys) == 0:
		return nil, errors.New("the JWKS has no keys")
	case len(raw.Keys) > MaxJWKSKeys:
		return nil, fmt.Errorf("the JWKS has %d keys; at most %d are allowed", len(raw.Keys), MaxJWKSKeys)
	}
	keys := make([]*jws.Key, 0, len(raw.Keys))
	for i, b := range raw.Keys {
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("key %d of the JWKS: %v", i+1, err)
		}
		name := fmt.Sprintf("key %d of the JWKS", i+1)
		if jk.KeyID != "" {
			name = fmt.Sprintf("key %q of the JWKS", printable(jk.KeyID))
		}
		switch {
		case jk.KeyID == "":
			return nil, fmt.Errorf("%s has no kid", name)
		case !jk.IsPublic():
			return nil, fmt.Errorf("%s is not a public key: register public keys only", name)
		case jk.Use != "" && jk.Use != "sig":
			return nil, fmt.Errorf("%s is not a signing key (use %q)", name, printable(jk.Use))
		case jk.Algorithm != "" && !slices.Contains(AssertionAlgorithms, jk.Algorithm):
			return nil, fmt.Errorf("%s: alg %q is not supported (supported: %s)", name, printable(jk.Algorithm), strings.Join(AssertionAlgorithms, ", "))
		case slices.ContainsFunc(keys, func(k *jws.Key) bool { return k.ID == jk.KeyID }):
			return nil, fmt.Errorf("kid %q is in the JWKS twice", printable(jk.KeyID))
		}
		k, err := jws.NewKey(jk.KeyID, jk.Algorithm, jk.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// CheckJWKSURI validates the URL of a client's JWKS: https, or http on a
// loopback address (for development), with no user information or
// fragment.
func CheckJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || !u.IsAbs():
		return fmt.Errorf("JWKS URI %q is not an absolute URL", printable(raw))
	case len(raw) > 2000:
		return errors.New("JWKS URI is longer than 2000 characters")
	case u.User != nil || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("JWKS URI %q must not have user information or a fragment", printable(raw))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("JWKS URI %q must be https (http only on a loopback address)", printable(raw))
}
