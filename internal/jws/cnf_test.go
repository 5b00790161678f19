package jws

import (
	"errors"
	"testing"
)

// TestVerifyCnf: cnf.jkt of a DPoP-bound token is returned; a cnf without
// jkt (a confirmation method this verifier cannot check) is refused rather
// than taken for an unbound token; no cnf is an unbound token.
func TestVerifyCnf(t *testing.T) {
	ec := newTestKey(t, "ec", ES256)
	keys := keysOf(ec)
	c, err := Verify(ec.sign(t, ec.header(), with(validClaims(), "cnf", map[string]any{"jkt": "thumb"})), keys, policy)
	if err != nil || c.JKT != "thumb" {
		t.Fatalf("bound token: got %q, %v; want jkt thumb", c.JKT, err)
	}
	c, err = Verify(ec.sign(t, ec.header(), validClaims()), keys, policy)
	if err != nil || c.JKT != "" {
		t.Fatalf("unbound token: got %q, %v", c.JKT, err)
	}
	for name, cnf := range map[string]any{"x5t#S256": map[string]any{"x5t#S256": "abc"}, "empty jkt": map[string]any{"jkt": ""}} {
		_, err := Verify(ec.sign(t, ec.header(), with(validClaims(), "cnf", cnf)), keys, policy)
		var je *Error
		if !errors.As(err, &je) || je.Reason != MissingClaim {
			t.Errorf("%s: got %v, want MissingClaim", name, err)
		}
	}
	if _, err := Verify(ec.sign(t, ec.header(), with(validClaims(), "cnf", "jkt")), keys, policy); err == nil {
		t.Error("cnf a string: accepted")
	}
}

func TestKeyVerifySignature(t *testing.T) {
	ec := newTestKey(t, "ec", ES256)
	tok := ec.sign(t, ec.header(), validClaims())
	i := len(tok) - 87 // "." and 86 characters of base64url signature
	sig, _ := b64.DecodeString(tok[i+1:])
	if !ec.key.VerifySignature(ES256, tok[:i], sig) {
		t.Fatal("a good signature does not verify")
	}
	if ec.key.VerifySignature(EdDSA, tok[:i], sig) || ec.key.VerifySignature(ES256, tok[:i]+"x", sig) || (*Key)(nil).VerifySignature(ES256, tok[:i], sig) {
		t.Error("a wrong alg, input or key verifies")
	}
}
