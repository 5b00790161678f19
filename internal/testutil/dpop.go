package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/gatehouse/gatehouse/internal/dpop"
)

// DPoPKey is a client's DPoP key (RFC 9449), ES256.
type DPoPKey struct {
	Priv *ecdsa.PrivateKey
	JKT  string // the JWK thumbprint (RFC 7638) a bound token's cnf.jkt holds
}

// NewDPoPKey returns a new DPoP key.
func NewDPoPKey(t testing.TB) *DPoPKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := dpop.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPKey{Priv: k, JKT: jkt}
}

// Proof returns a DPoP proof of c signed with k.
func (k *DPoPKey) Proof(t testing.TB, c dpop.ProofClaims) string {
	t.Helper()
	p, err := dpop.Sign(k.Priv, "ES256", c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
