package console

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// The keys of a private_key_jwt app (RFC 7523 §2.2): on the new-app form
// and the app page an administrator pastes the app's public keys (a JSON
// Web Key Set, or PEM public keys, which become one) or gives the URL of
// its JWKS, instead of a secret.

// readKeys reads the key fields of a parsed form: the pasted keys (as
// typed, for the form) and the JWKS document they make, and the JWKS URI.
// problems are what the clients service cannot see (unreadable PEM).
func readKeys(p url.Values) (typed, jwks, jwksURI string, problems []string) {
	typed, jwksURI = strings.TrimSpace(p.Get("jwks")), strings.TrimSpace(p.Get("jwks_uri"))
	switch {
	case typed != "" && jwksURI != "":
		problems = append(problems, "give the app's public keys or the URL of its JWKS, not both")
	case strings.HasPrefix(typed, "-----BEGIN"):
		doc, err := pemJWKS(typed)
		if err != nil {
			problems = append(problems, "public keys: "+err.Error())
		}
		jwks = doc
	case typed != "" && !strings.HasPrefix(typed, "{"):
		problems = append(problems, `public keys: paste a JSON Web Key Set ({"keys": [...]}) or PEM public keys (-----BEGIN PUBLIC KEY-----)`)
	default:
		jwks = typed
	}
	if strings.Contains(typed, "PRIVATE KEY") || strings.Contains(typed, `"d"`) {
		typed = "" // a private key is never written back into a page
	}
	return typed, jwks, jwksURI, problems
}

// pemJWKS turns PEM public keys (SPKI "PUBLIC KEY" or PKCS #1 "RSA PUBLIC
// KEY" blocks) into a JWKS document: each key signing-only, with its RFC
// 7638 thumbprint as kid and, where the key type has one, its algorithm.
func pemJWKS(text string) (string, error) {
	var set jose.JSONWebKeySet
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var pub any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return "", errors.New("that is a private key: paste the public key only, and keep the private key with the app")
			}
			return "", fmt.Errorf("a %q block is not a public key", b.Type)
		}
		if err != nil {
			return "", fmt.Errorf("a %s block cannot be read: %v", b.Type, err)
		}
		alg := ""
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			if k.Curve == elliptic.P256() {
				alg = string(jose.ES256)
			}
		case ed25519.PublicKey:
			alg = string(jose.EdDSA)
		case *rsa.PublicKey: // RS256 or PS256: the app chooses
		}
		jk := jose.JSONWebKey{Key: pub, Algorithm: alg, Use: "sig"}
		tp, err := jk.Thumbprint(crypto.SHA256)
		if err != nil {
			return "", fmt.Errorf("unsupported public key: %v", err)
		}
		jk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		set.Keys = append(set.Keys, jk)
	}
	if len(set.Keys) == 0 || strings.TrimSpace(string(rest)) != "" {
		return "", errors.New("not PEM public keys")
	}
	b, err := json.Marshal(set)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// keyIDs lists the kids of a client's registered JWKS, for its page.
func keyIDs(cl store.Client) []string {
	keys, err := clients.ParseJWKS([]byte(cl.JWKS))
	if cl.JWKS == "" || err != nil {
		return nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// appKeys replaces a private_key_jwt app's keys, or switches a
// secret-based app to private_key_jwt with them (its secrets are deleted).
func (c *Console) appKeys(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	cl, err := c.clients.Get(r.Context(), id)
	if err != nil {
		return clientErr(err)
	}
	typed, jwks, jwksURI, problems := readKeys(r.PostForm)
	kf := appForm{JWKS: typed, JWKSURI: jwksURI}
	if len(problems) == 0 && jwks == "" && jwksURI == "" {
		problems = append(problems, "paste the app's public keys or give the URL of its JWKS")
	}
	if len(problems) > 0 {
		return c.renderAppKeys(w, r, cl, kf, problems)
	}
	method := store.AuthMethodPrivateKeyJWT
	p := clients.Patch{TokenEndpointAuthMethod: &method}
	if jwksURI != "" {
		p.JWKSURI = &jwksURI
	} else {
		p.JWKS = &jwks
	}
	_, err = c.clients.Update(r.Context(), actor(u), id, p)
	var ve *clients.ValidationError
	if errors.As(err, &ve) {
		return c.renderAppKeys(w, r, cl, kf, ve.Problems)
	}
	if err != nil {
		return clientErr(err)
	}
	return redirect(w, r, appPath(id)+"?done=keys")
}
