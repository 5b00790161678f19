package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/jws"
)

// rsaBits is the size of generated RSA keys; smaller stored keys are refused.
const rsaBits = 2048

// signingKey is a decrypted, parsed key ready to sign. Immutable.
type signingKey struct {
	id  string
	alg string
	// header is base64url(JOSE header) followed by '.', the start of every
	// token this key signs.
	header []byte
	ec     *ecdsa.PrivateKey
	rsa    *rsa.PrivateKey
	ed     ed25519.PrivateKey
	pub    crypto.PublicKey
	vkey   *jws.Key // pub, to verify tokens with
	jwk    []byte   // public key as a JWK (RFC 7517 §4)
}

func generatePKCS8(alg string, r io.Reader) ([]byte, error) {
	var (
		priv any
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), r)
	case RS256, PS256:
		priv, err = rsa.GenerateKey(r, rsaBits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(r)
	default:
		return nil, fmt.Errorf("signing algorithm %q is not supported", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	return der, nil
}

// loadKey parses a PKCS#8 private key and checks that it suits alg.
func loadKey(kid, alg string, pkcs8 []byte) (*signingKey, error) {
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	key := &signingKey{id: kid, alg: alg}
	switch alg {
	case ES256:
		p, ok := priv.(*ecdsa.PrivateKey)
		if !ok || p.Curve != elliptic.P256() {
			return nil, errors.New("ES256 needs a P-256 ECDSA key")
		}
		key.ec, key.pub = p, &p.PublicKey
	case RS256, PS256:
		p, ok := priv.(*rsa.PrivateKey)
		if !ok || p.N.BitLen() < rsaBits {
			return nil, fmt.Errorf("%s needs an RSA key of at least %d bits", alg, rsaBits)
		}
		key.rsa, key.pub = p, &p.PublicKey
	case EdDSA:
		p, ok := priv.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("EdDSA needs an Ed25519 key")
		}
		key.ed, key.pub = p, p.Public()
	default:
		return nil, fmt.Errorf("signing algorithm %q is not supported", alg)
	}
	h := []byte(`{"alg":`)
	h = appendJSONString(h, alg)
	h = append(h, `,"typ":"at+jwt","kid":`...)
	h = appendJSONString(h, kid)
	h = append(h, '}')
	key.header = append(base64.RawURLEncoding.AppendEncode(nil, h), '.')
	if key.vkey, err = jws.NewKey(kid, alg, key.pub); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	key.jwk, err = json.Marshal(jose.JSONWebKey{Key: key.pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return key, nil
}

// buildJWKS encodes the public keys as a JWK Set (RFC 7517 §5).
func buildJWKS(keys []*signingKey) []byte {
	b := []byte(`{"keys":[`)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, k.jwk...)
	}
	return append(b, "]}"...)
}
