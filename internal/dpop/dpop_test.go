package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var (
	t0     = time.Unix(1_800_000_000, 0)
	ecKey  = mustEC()
	ecKey2 = mustEC()
)

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func newVerifier(t *testing.T, o Options) *Verifier {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, key crypto.Signer, alg string, c ProofClaims) string {
	t.Helper()
	if c.IssuedAt.IsZero() {
		c.IssuedAt = t0
	}
	p, err := Sign(key, alg, c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rawProof builds a proof from a header and claims of our choosing, signed
// with ES256 by key (or with a garbage signature if key is nil).
func rawProof(t *testing.T, key *ecdsa.PrivateKey, hdr, claims map[string]any) string {
	t.Helper()
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if key == nil {
		return input + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	}
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func publicJWK(t *testing.T, pub crypto.PublicKey) map[string]any {
	t.Helper()
	b, err := jose.JSONWebKey{Key: pub}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func goodClaims() map[string]any {
	return map[string]any{"jti": "j1", "htm": "POST", "htu": "https://as.example/oauth/token", "iat": t0.Unix()}
}

const tokenURL = "https://as.example/oauth/token"

func TestVerifyAccepts(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{{"ES256", ecKey}, {"RS256", rsaKey}, {"PS256", rsaKey}, {"EdDSA", edKey}} {
		t.Run(tc.alg, func(t *testing.T) {
			v := newVerifier(t, Options{})
			p, err := v.Verify(sign(t, tc.key, tc.alg, ProofClaims{Method: "POST", URL: tokenURL}), Request{Method: "POST", URL: tokenURL})
			if err != nil {
				t.Fatalf("got %v, want the proof accepted", err)
			}
			want, _ := Thumbprint(tc.key.Public())
			if p.JKT != want || want == "" {
				t.Errorf("got jkt %q, want %q", p.JKT, want)
			}
		})
	}
}

// TestThumbprint checks the RFC 7638 §3.1 example.
func TestThumbprint(t *testing.T) {
	const ex = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}`
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(ex)); err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(k.Key)
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

func TestVerifyRefuses(t *testing.T) {
	ecPub := publicJWK(t, ecKey.Public())
	privJWK := func() map[string]any {
		b, _ := jose.JSONWebKey{Key: ecKey}.MarshalJSON()
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}()
	hdr := func(mod func(map[string]any)) map[string]any {
		h := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": ecPub}
		if mod != nil {
			mod(h)
		}
		return h
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := goodClaims()
		if mod != nil {
			mod(c)
		}
		return c
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	resReq := Request{Method: "GET", URL: "https://api.example/v1/things?x=1", AccessToken: "tok"}
	for _, tc := range []struct {
		name  string
		proof string
		req   Request
		want  Reason
	}{
		{"not a JWT", "abc.def", Request{}, Malformed},
		{"too long", strings.Repeat("a", MaxProofLen+1), Request{}, Malformed},
		{"typ JWT", rawProof(t, ecKey, hdr(func(h map[string]any) { h["typ"] = "JWT" }), claims(nil)), Request{}, BadHeader},
		{"typ absent", rawProof(t, ecKey, hdr(func(h map[string]any) { delete(h, "typ") }), claims(nil)), Request{}, BadHeader},
		{"crit", rawProof(t, ecKey, hdr(func(h map[string]any) { h["crit"] = []string{"x"} }), claims(nil)), Request{}, BadHeader},
		{"alg none", rawProof(t, ecKey, hdr(func(h map[string]any) { h["alg"] = "none" }), claims(nil)), Request{}, BadAlgorithm},
		{"alg HS256", rawProof(t, ecKey, hdr(func(h map[string]any) { h["alg"] = "HS256" }), claims(nil)), Request{}, BadAlgorithm},
		{"no jwk", rawProof(t, ecKey, hdr(func(h map[string]any) { delete(h, "jwk") }), claims(nil)), Request{}, BadKey},
		{"private jwk", rawProof(t, ecKey, hdr(func(h map[string]any) { h["jwk"] = privJWK }), claims(nil)), Request{}, BadKey},
		{"symmetric jwk", rawProof(t, ecKey, hdr(func(h map[string]any) {
			h["jwk"] = map[string]any{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}
		}), claims(nil)), Request{}, BadKey},
		{"weak RSA key", rawProof(t, ecKey, hdr(func(h map[string]any) { h["alg"] = "RS256"; h["jwk"] = publicJWK(t, rsa1024.Public()) }), claims(nil)), Request{}, BadKey},
		{"alg does not suit key", rawProof(t, ecKey, hdr(func(h map[string]any) { h["alg"] = "EdDSA" }), claims(nil)), Request{}, BadKey},
		{"bad signature", rawProof(t, nil, hdr(nil), claims(nil)), Request{}, BadSignature},
		{"signed by another key", rawProof(t, ecKey2, hdr(nil), claims(nil)), Request{}, BadSignature},
		{"no jti", rawProof(t, ecKey, hdr(nil), claims(func(c map[string]any) { delete(c, "jti") })), Request{Method: "POST", URL: tokenURL}, Malformed},
		{"no iat", rawProof(t, ecKey, hdr(nil), claims(func(c map[string]any) { delete(c, "iat") })), Request{Method: "POST", URL: tokenURL}, Malformed},
		{"iat a string", rawProof(t, ecKey, hdr(nil), claims(func(c map[string]any) { c["iat"] = "1" })), Request{Method: "POST", URL: tokenURL}, Malformed},
		{"wrong htm", sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: tokenURL}), Request{Method: "POST", URL: tokenURL}, WrongMethod},
		{"htm lower case", sign(t, ecKey, "ES256", ProofClaims{Method: "post", URL: tokenURL}), Request{Method: "POST", URL: tokenURL}, WrongMethod},
		{"wrong htu path", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: "https://as.example/oauth/revoke"}), Request{Method: "POST", URL: tokenURL}, WrongURL},
		{"wrong htu host", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: "https://evil.example/oauth/token"}), Request{Method: "POST", URL: tokenURL}, WrongURL},
		{"wrong htu scheme", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: "http://as.example/oauth/token"}), Request{Method: "POST", URL: tokenURL}, WrongURL},
		{"iat too old", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, IssuedAt: t0.Add(-61 * time.Second)}), Request{Method: "POST", URL: tokenURL}, Stale},
		{"iat in the future", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, IssuedAt: t0.Add(61 * time.Second)}), Request{Method: "POST", URL: tokenURL}, Stale},
		{"ath at the token endpoint", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, AccessToken: "tok"}), Request{Method: "POST", URL: tokenURL}, WrongToken},
		{"no ath at a resource", sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: "https://api.example/v1/things"}), resReq, WrongToken},
		{"ath of another token", sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: "https://api.example/v1/things", AccessToken: "other"}), resReq, WrongToken},
		{"no nonce", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL}),
			Request{Method: "POST", URL: tokenURL, Nonce: func(string) bool { return true }}, BadNonce},
		{"bad nonce", sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, Nonce: "n1"}),
			Request{Method: "POST", URL: tokenURL, Nonce: func(n string) bool { return n == "n2" }}, BadNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, Options{})
			_, err := v.Verify(tc.proof, tc.req)
			var de *Error
			if !errors.As(err, &de) || de.Reason != tc.want {
				t.Fatalf("got %v, want reason %v", err, tc.want)
			}
		})
	}
}

func TestVerifyResourceProof(t *testing.T) {
	v := newVerifier(t, Options{})
	p := sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: "https://API.example:443/v1/%7ethings/./a?q=1#f", AccessToken: "tok", Nonce: "n"})
	if _, err := v.Verify(p, Request{Method: "GET", URL: "https://api.example/v1/~things/a?other", AccessToken: "tok", Nonce: func(n string) bool { return n == "n" }}); err != nil {
		t.Fatalf("got %v, want the proof accepted (htu normalised, query ignored)", err)
	}
}

func TestReplay(t *testing.T) {
	now := t0
	v := newVerifier(t, Options{Now: func() time.Time { return now }})
	req := Request{Method: "POST", URL: tokenURL}
	p := sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, JTI: "same"})
	if _, err := v.Verify(p, req); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, 30 * time.Second, 60 * time.Second} {
		now = t0.Add(d)
		var de *Error
		if _, err := v.Verify(p, req); !errors.As(err, &de) || de.Reason != Replayed {
			t.Fatalf("%s later: got %v, want Replayed", d, err)
		}
	}
	// Another key may use the same jti.
	now = t0
	if _, err := v.Verify(sign(t, ecKey2, "ES256", ProofClaims{Method: "POST", URL: tokenURL, JTI: "same"}), req); err != nil {
		t.Fatalf("another key's proof with the same jti: got %v, want accepted", err)
	}
	// A refused proof is not remembered.
	bad := sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: tokenURL, JTI: "j2"})
	v.Verify(bad, req)
	if _, err := v.Verify(sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL, JTI: "j2"}), req); err != nil {
		t.Fatalf("got %v, want a jti of a refused proof still usable", err)
	}
}

// TestWrongKeyNotRemembered: a proof by another key than the token's is
// refused before its jti is remembered, so that proofs that could never be
// accepted do not fill the replay cache.
func TestWrongKeyNotRemembered(t *testing.T) {
	v := newVerifier(t, Options{})
	jkt, _ := Thumbprint(ecKey.Public())
	other, _ := Thumbprint(ecKey2.Public())
	const u = "https://api.example/x"
	p := sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: u, AccessToken: "tok"})
	_, err := v.Verify(p, Request{Method: "GET", URL: u, AccessToken: "tok", JKT: other})
	var de *Error
	if !errors.As(err, &de) || de.Reason != WrongKey {
		t.Fatalf("got %v, want WrongKey", err)
	}
	if _, err := v.Verify(p, Request{Method: "GET", URL: u, AccessToken: "tok", JKT: jkt}); err != nil {
		t.Fatalf("the same proof for its own key: got %v, want accepted (not remembered before)", err)
	}
	// Check does not remember; Remember does.
	p2 := sign(t, ecKey, "ES256", ProofClaims{Method: "GET", URL: u, AccessToken: "tok"})
	pr, err := v.Check(p2, Request{Method: "GET", URL: u, AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Check(p2, Request{Method: "GET", URL: u, AccessToken: "tok"}); err != nil {
		t.Fatalf("Check twice: %v", err)
	}
	if err := v.Remember(pr); err != nil {
		t.Fatal(err)
	}
	if err := v.Remember(pr); !errors.As(err, &de) || de.Reason != Replayed {
		t.Fatalf("Remember twice: got %v, want Replayed", err)
	}
}

// TestReplayCacheBounded: the replay cache never forgets a jti that could
// still be accepted; when full it refuses new proofs rather than forget.
func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(16, 2*time.Minute) // one entry per shard
	var saw [2]bool
	for i := 0; i < 200 && !(saw[0] && saw[1]); i++ {
		switch c.add("k", strings.Repeat("x", i), t0) {
		case added:
			saw[0] = true
		case full:
			saw[1] = true
		}
	}
	if !saw[0] || !saw[1] {
		t.Fatalf("got added=%v full=%v, want both", saw[0], saw[1])
	}
	c = newReplayCache(100, 2*time.Minute)
	c.add("k", "a", t0)
	for _, d := range []time.Duration{time.Minute, 2*time.Minute + time.Second, 3 * time.Minute} {
		if got := c.add("k", "a", t0.Add(d)); got != replayed {
			t.Fatalf("%s later: got %v, want replayed", d, got)
		}
	}
	if got := c.add("k", "a", t0.Add(9*time.Minute)); got != added {
		t.Fatalf("long after: got %v, want added (forgotten)", got)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://Example.COM":                "https://example.com/",
		"HTTPS://example.com:443/a/b":        "https://example.com/a/b",
		"http://example.com:80/a":            "http://example.com/a",
		"http://example.com:8080/a":          "http://example.com:8080/a",
		"https://example.com/a/./b/../c":     "https://example.com/a/c",
		"https://example.com/%7euser/%2f%41": "https://example.com/~user/%2FA",
		"https://example.com/a?x=1#y":        "https://example.com/a",
		"https://example.com:/a":             "https://example.com/a",
	} {
		if got, err := NormalizeURL(in); err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/a", "ftp://example.com/", "https://user@example.com/", "mailto:x@example.com"} {
		if got, err := NormalizeURL(in); err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
		}
	}
}

func TestNonces(t *testing.T) {
	now := t0
	key := make([]byte, 32)
	n := NewNonces(key, time.Minute, func() time.Time { return now })
	cur := n.Current()
	if !n.Valid(cur) {
		t.Fatal("the current nonce is not valid")
	}
	now = now.Add(time.Minute)
	if !n.Valid(cur) {
		t.Error("the previous period's nonce is not valid")
	}
	now = now.Add(time.Minute)
	if n.Valid(cur) {
		t.Error("a nonce two periods old is valid")
	}
	other := NewNonces([]byte(strings.Repeat("k", 32)), time.Minute, func() time.Time { return now })
	if n.Valid(other.Current()) {
		t.Error("a nonce made with another key is valid")
	}
	// A forged period with a MAC for another period.
	b, _ := base64.RawURLEncoding.DecodeString(n.Current())
	b[7]++
	if n.Valid(base64.RawURLEncoding.EncodeToString(b)) {
		t.Error("a nonce with a changed period is valid")
	}
}

func TestNewVerifierOptions(t *testing.T) {
	for _, o := range []Options{{Algorithms: []string{}}, {Algorithms: []string{"HS256"}}, {Window: -1}, {CacheSize: -1}} {
		if _, err := NewVerifier(o); err == nil {
			t.Errorf("NewVerifier(%+v): got no error", o)
		}
	}
	v := newVerifier(t, Options{Algorithms: []string{"EdDSA"}})
	_, err := v.Verify(sign(t, ecKey, "ES256", ProofClaims{Method: "POST", URL: tokenURL}), Request{Method: "POST", URL: tokenURL})
	var de *Error
	if !errors.As(err, &de) || de.Reason != BadAlgorithm {
		t.Errorf("ES256 with only EdDSA allowed: got %v, want BadAlgorithm", err)
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA")
	f.Add(func() string {
		p, _ := Sign(ecKey, "ES256", ProofClaims{Method: "GET", URL: "https://a.example/"})
		return p
	}())
	v, _ := NewVerifier(Options{})
	f.Fuzz(func(t *testing.T, s string) {
		v.Verify(s, Request{Method: "GET", URL: "https://a.example/", AccessToken: "x"})
		NormalizeURL(s)
	})
}
