package resource

import (
	"context"
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func FuzzBearer(f *testing.F) {
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer abc", "bearer abc", "BEARER  a.b.c", "Bearer a.b.c==",
		"Bearer a=b", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearerabc", "Bearer\tabc", "Bearer ~+/-._",
		"Bearer " + strings.Repeat("a", maxTokenLen+1), "Bearer é", "Bearer abc\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, res := bearerToken(v)
		switch res {
		case bearerOK:
			if len(v) < 7 || !strings.EqualFold(v[:6], "bearer") || v[6] != ' ' {
				t.Fatalf("%q: accepted without the Bearer scheme", v)
			}
			if strings.TrimLeft(v[6:], " ") != tok {
				t.Fatalf("%q: token %q is not the rest of the header", v, tok)
			}
			if tok == "" || len(tok) > maxTokenLen {
				t.Fatalf("%q: token of length %d", v, len(tok))
			}
			body := strings.TrimRight(tok, "=")
			if body == "" {
				t.Fatalf("%q: token of only '='", v)
			}
			for i := 0; i < len(body); i++ {
				if !isB64TokenChar(body[i]) {
					t.Fatalf("%q: token has %q", v, body[i])
				}
			}
		case bearerNone:
			if tok != "" {
				t.Fatalf("%q: none but token %q", v, tok)
			}
			if len(v) > 6 && strings.EqualFold(v[:6], "bearer") && v[6] == ' ' {
				t.Fatalf("%q: Bearer scheme reported as none", v)
			}
		case bearerMalformed:
			if tok != "" {
				t.Fatalf("%q: malformed but token %q", v, tok)
			}
		}
	})
}

// FuzzVerify feeds arbitrary tokens to the JWS parsing and verification. A
// token it accepts must also verify with go-jose, to the same payload.
func FuzzVerify(f *testing.F) {
	k := newECKey(f, "k1")
	now := time.Unix(1_750_000_000, 0)
	claims := map[string]any{
		"iss": "https://issuer.example", "sub": "c", "aud": "api", "exp": now.Unix() + 3600,
		"iat": now.Unix(), "jti": "j", "client_id": "c", "scope": "api",
	}
	good := signRaw(f, k, ecHeader(k), claims)
	f.Add(good)
	parts := strings.Split(good, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(signRaw(f, k, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "k1"}, claims))
	f.Add(signRaw(f, k, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "k1", "crit": []string{"x"}}, claims))
	f.Add(signRaw(f, k, ecHeader(k), map[string]any{"iss": "https://issuer.example", "aud": []any{"api", 1}, "exp": "x"}))
	f.Add("e30.e30.AA")
	f.Add("...")

	g, err := New(Config{
		Issuer: "https://issuer.example", Audience: "api", RevocationPoll: -1, CacheSize: -1,
		JWKSMinRefresh: time.Hour, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	defer g.Close()
	pub := k.priv.Public().(*ecdsa.PublicKey)
	g.keys.Store(&keySet{keys: map[string]*publicKey{"k1": {kid: "k1", alg: ES256, ec: pub}}, refreshAt: now.Add(time.Hour)})
	g.tried = now // no fetch for unknown kids

	f.Fuzz(func(t *testing.T, tok string) {
		e, fail := g.verify(context.Background(), tok, now)
		if fail != nil {
			if fail.status != 401 || fail.code != codeInvalidToken || fail.desc == "" {
				t.Fatalf("%q: refused with %+v", tok, fail)
			}
			return
		}
		if e.claims.Issuer != "https://issuer.example" || !containsString(e.claims.Audience, "api") || e.claims.JTI == "" {
			t.Fatalf("%q: accepted with claims %+v", tok, e.claims)
		}
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("%q: accepted here, go-jose cannot parse it: %v", tok, err)
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			t.Fatalf("%q: accepted here, go-jose does not verify it: %v", tok, err)
		}
		want, _ := b64.DecodeString(strings.Split(tok, ".")[1])
		if string(payload) != string(want) {
			t.Fatalf("%q: go-jose verified another payload", tok)
		}
	})
}
