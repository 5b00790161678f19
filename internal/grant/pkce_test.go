package grant

import (
	"strings"
	"testing"
)

func TestVerifyPKCE(t *testing.T) {
	// RFC 7636 Appendix B.
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got := S256(verifier); got != challenge {
		t.Fatalf("S256 = %q, want %q", got, challenge)
	}
	for _, tc := range []struct {
		name, verifier, challenge string
		want                      bool
	}{
		{"match", verifier, challenge, true},
		{"wrong verifier", strings.Replace(verifier, "d", "e", 1), challenge, false},
		{"empty challenge", verifier, "", false},
		{"plain is not accepted", verifier, verifier, false},
		{"too short", "abc", S256("abc"), false},
		{"too long", strings.Repeat("a", 129), S256(strings.Repeat("a", 129)), false},
		{"bad character", strings.Repeat("a", 42) + "+", S256(strings.Repeat("a", 42) + "+"), false},
		{"longest", strings.Repeat("~", 128), S256(strings.Repeat("~", 128)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyPKCE(tc.verifier, tc.challenge); got != tc.want {
				t.Errorf("VerifyPKCE = %v, want %v", got, tc.want)
			}
		})
	}
	if !ValidChallenge(challenge) || ValidChallenge(verifier+"=") || ValidChallenge("short") {
		t.Error("ValidChallenge misjudged a challenge")
	}
}

func FuzzPKCEVerifier(f *testing.F) {
	f.Add("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	f.Add("", "")
	f.Add(strings.Repeat("a", 43), strings.Repeat("a", 43))
	f.Fuzz(func(t *testing.T, verifier, challenge string) {
		ok := VerifyPKCE(verifier, challenge)
		if ok && !ValidVerifier(verifier) {
			t.Fatalf("accepted malformed verifier %q", verifier)
		}
		if ok && challenge != S256(verifier) {
			t.Fatalf("accepted verifier %q for challenge %q", verifier, challenge)
		}
		if ValidVerifier(verifier) && !VerifyPKCE(verifier, S256(verifier)) {
			t.Fatalf("rejected valid verifier %q", verifier)
		}
		if ValidVerifier(verifier) && !ValidChallenge(S256(verifier)) {
			t.Fatalf("S256(%q) is not a valid challenge", verifier)
		}
	})
}
