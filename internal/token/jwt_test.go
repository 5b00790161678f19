package token

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

var allAlgs = []string{ES256, RS256, PS256, EdDSA}

func testClaims(now time.Time) Claims {
	return Claims{
		Issuer:    "https://auth.example.com",
		Subject:   "client-1",
		Audience:  "https://api.example.com",
		ClientID:  "client-1",
		Scope:     "profile search",
		AccountID: "acct-42",
		JTI:       "c2lnbmVkIGFuZCBzZWFsZWQ",
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: now.Add(time.Hour),
	}
}

// decodePart decodes one base64url part of a compact JWS as JSON into v.
func decodePart(t *testing.T, tok string, part int, v any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("got %d token parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err != nil {
		t.Fatalf("part %d: %v", part, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("part %d %s: %v", part, b, err)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			clk := newClock()
			k := newTestKeyring(t, &fakeStore{}, alg, clk, nil)
			want := testClaims(clk.Now())
			tok, err := k.Sign(&want)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}

			got, err := k.Verify(tok, clk.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Verify claims (-want +got):\n%s", diff)
			}

			var hdr map[string]any
			decodePart(t, tok, 0, &hdr)
			kid := k.Keys()[0].ID
			wantHdr := map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid}
			if diff := cmp.Diff(wantHdr, hdr); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			var payload map[string]any
			decodePart(t, tok, 1, &payload)
			unix := float64(clk.Now().Unix())
			wantPayload := map[string]any{
				"iss": want.Issuer, "sub": want.Subject, "aud": want.Audience,
				"exp": unix + 3600, "iat": unix, "nbf": unix, "jti": want.JTI,
				"client_id": want.ClientID, "scope": want.Scope, "account_id": want.AccountID,
			}
			if diff := cmp.Diff(wantPayload, payload); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}

			// An independent implementation accepts the token against our JWKS.
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(k.JWKS(), &set); err != nil {
				t.Fatalf("JWKS: %v", err)
			}
			jwks := set.Key(kid)
			if len(jwks) != 1 {
				t.Fatalf("got %d JWKS entries for kid %s, want 1", len(jwks), kid)
			}
			if jwks[0].Algorithm != alg || jwks[0].Use != "sig" || !jwks[0].IsPublic() {
				t.Errorf("got JWK alg %q use %q public %v, want %s sig true", jwks[0].Algorithm, jwks[0].Use, jwks[0].IsPublic(), alg)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			if got := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType]; got != "at+jwt" {
				t.Errorf("go-jose: got typ %v, want at+jwt", got)
			}
			body, err := jws.Verify(jwks[0])
			if err != nil {
				t.Fatalf("go-jose Verify: %v", err)
			}
			var joseClaims map[string]any
			if err := json.Unmarshal(body, &joseClaims); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantPayload, joseClaims); diff != "" {
				t.Errorf("go-jose payload (-want +got):\n%s", diff)
			}

			// A token signed by go-jose with the same key verifies with ours.
			joseTok := signWithJose(t, k, alg, []byte(`{"iss":"i","sub":"s","aud":"a","client_id":"s","exp":1900000000,"iat":1,"jti":"x"}`))
			if _, err := k.Verify(joseTok, clk.Now()); err != nil {
				t.Errorf("Verify of a go-jose token: %v", err)
			}
		})
	}
}

// signWithJose signs payload with the keyring's active private key using
// go-jose.
func signWithJose(t *testing.T, k *Keyring, alg string, payload []byte) string {
	t.Helper()
	key := activeKey(t, k)
	var priv any
	switch {
	case key.ec != nil:
		priv = key.ec
	case key.rsa != nil:
		priv = key.rsa
	default:
		priv = key.ed
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", key.id)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func activeKey(t testing.TB, k *Keyring) *signingKey {
	t.Helper()
	st := k.state.Load()
	i := activeIndex(st.meta, k.cfg.Now())
	if i < 0 {
		t.Fatal("no active key")
	}
	return st.keys[i]
}

// rawToken builds a token with the given header and payload JSON, signed
// by key.
func rawToken(t *testing.T, key *signingKey, header, payload string) string {
	t.Helper()
	b := base64.RawURLEncoding.AppendEncode(nil, []byte(header))
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, []byte(payload))
	b, err := key.appendSignature(b, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVerifyRejects(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	k := newTestKeyring(t, st, ES256, clk, nil)
	now := clk.Now()
	claims := testClaims(now)
	good, err := k.Sign(&claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Verify(good, now); err != nil {
		t.Fatalf("good token: %v", err)
	}
	key := activeKey(t, k)
	parts := strings.Split(good, ".")
	hdr := `{"alg":"ES256","typ":"at+jwt","kid":"` + key.id + `"}`
	payload := func(exp, nbf int64) string {
		c := claims
		c.ExpiresAt, c.NotBefore = time.Unix(exp, 0), time.Unix(nbf, 0)
		return string(appendClaims(nil, &c))
	}
	unix := now.Unix()

	// A key in another keyring, never stored in this one.
	stranger := activeKey(t, newTestKeyring(t, &fakeStore{}, ES256, clk, nil))
	// An EdDSA key given this key's ID, to try alg confusion.
	edKeyring := newTestKeyring(t, &fakeStore{}, EdDSA, clk, nil)
	ed := *activeKey(t, edKeyring)
	ed.id = key.id

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherClaims := claims
	otherClaims.Scope = "api"

	tests := []struct {
		name  string
		token string
		want  string // substring of the error
	}{
		{"empty", "", "not a JWT"},
		{"one part", "abc", "not a JWT"},
		{"two parts", parts[0] + "." + parts[1], "not a JWT"},
		{"four parts", good + ".x", "not a signed JWT"},
		{"five parts (JWE)", "a.b.c.d.e", "not a signed JWT"},
		{"header not base64", "*." + parts[1] + "." + parts[2], "JOSE header"},
		{"header padded", parts[0] + "=." + parts[1] + "." + parts[2], "JOSE header"},
		{"header not JSON", "YWJj." + parts[1] + "." + parts[2], "JOSE header"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 10), "signature"},
		{"signature truncated", parts[0] + "." + parts[1] + "." + parts[2][:40], "signature"},
		{"signature empty", parts[0] + "." + parts[1] + ".", "signature"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(appendClaims(nil, &otherClaims)) + "." + parts[2], "signature"},
		{"typ JWT", rawToken(t, key, `{"alg":"ES256","typ":"JWT","kid":"`+key.id+`"}`, payload(unix+60, unix)), "typ"},
		{"no typ", rawToken(t, key, `{"alg":"ES256","kid":"`+key.id+`"}`, payload(unix+60, unix)), "typ"},
		{"unknown kid", rawToken(t, stranger, `{"alg":"ES256","typ":"at+jwt","kid":"`+stranger.id+`"}`, payload(unix+60, unix)), "unknown key"},
		{"no kid", rawToken(t, key, `{"alg":"ES256","typ":"at+jwt"}`, payload(unix+60, unix)), "unknown key"},
		{"other key under our kid", rawToken(t, stranger, hdr, payload(unix+60, unix)), "signature"},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+key.id+`"}`)) + "." + parts[1] + ".", "malformed signature"},
		{"alg confusion", rawToken(t, &ed, `{"alg":"EdDSA","typ":"at+jwt","kid":"`+key.id+`"}`, payload(unix+60, unix)), "alg"},
		{"crit", rawToken(t, key, `{"alg":"ES256","typ":"at+jwt","kid":"`+key.id+`","crit":["exp"]}`, payload(unix+60, unix)), "critical"},
		{"expired", rawToken(t, key, hdr, payload(unix-30, unix-60)), "expired"},
		{"expired a second ago (no exp leeway for the issuer)", rawToken(t, key, hdr, payload(unix-1, unix-60)), "expired"},
		{"expiring now", rawToken(t, key, hdr, payload(unix, unix-60)), "expired"},
		{"long expired", rawToken(t, key, hdr, payload(unix-3600, unix-7200)), "expired"},
		{"not yet valid", rawToken(t, key, hdr, payload(unix+3600, unix+31)), "not valid yet"},
		{"no exp", rawToken(t, key, hdr, `{"iat":1,"jti":"x"}`), "no exp"},
		{"no iat", rawToken(t, key, hdr, claimsWithout(t, claims, "iat")), "missing claims (RFC 9068 §2.2): iat"},
		{"no jti", rawToken(t, key, hdr, claimsWithout(t, claims, "jti")), "missing claims (RFC 9068 §2.2): jti"},
		{"no iss", rawToken(t, key, hdr, claimsWithout(t, claims, "iss")), "missing claims (RFC 9068 §2.2): iss"},
		{"no sub", rawToken(t, key, hdr, claimsWithout(t, claims, "sub")), "missing claims (RFC 9068 §2.2): sub"},
		{"no aud", rawToken(t, key, hdr, claimsWithout(t, claims, "aud")), "missing claims (RFC 9068 §2.2): aud"},
		{"no client_id", rawToken(t, key, hdr, claimsWithout(t, claims, "client_id")), "missing claims (RFC 9068 §2.2): client_id"},
		{"only exp", rawToken(t, key, hdr, `{"exp":1900000000}`), "missing claims (RFC 9068 §2.2): iss sub aud iat jti client_id"},
		{"exp string", rawToken(t, key, hdr, `{"exp":"1900000000","iat":1,"jti":"x"}`), "claims"},
		{"exp huge", rawToken(t, key, hdr, `{"exp":1e300,"iat":1,"jti":"x"}`), "malformed claims"},
		{"payload not JSON", rawToken(t, key, hdr, `not json`), "claims"},
		{"payload array", rawToken(t, key, hdr, `[1]`), "claims"},
		{"too long", strings.Repeat("a", 20000) + ".b.c", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Verify(tt.token, now)
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("got error %v, want one wrapping ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want one containing %q", err, tt.want)
			}
		})
	}

	// Within the nbf leeway, and at the last second before exp, it passes.
	accepted := []struct {
		name  string
		token string
	}{
		{"nbf within leeway", rawToken(t, key, hdr, payload(unix+60, unix+30))},
		{"one second left", rawToken(t, key, hdr, payload(unix+1, unix))},
		{"application/at+jwt", rawToken(t, key, `{"alg":"ES256","typ":"application/at+jwt","kid":"`+key.id+`"}`, payload(unix+60, unix))},
		{"fractional exp", rawToken(t, key, hdr, `{"iss":"i","sub":"s","aud":"a","client_id":"s","exp":1900000000.5,"iat":1,"jti":"x"}`)},
		{"aud array", rawToken(t, key, hdr, `{"iss":"i","sub":"s","aud":["a","b"],"client_id":"s","exp":1900000000,"iat":1,"jti":"x"}`)},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.Verify(tt.token, now); err != nil {
				t.Errorf("got error %v, want none", err)
			}
		})
	}
}

// claimsWithout is c as a JSON claims set without the claim name.
func claimsWithout(t *testing.T, c Claims, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(appendClaims(nil, &c), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, name)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClaimsJSONEscaping(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, EdDSA, clk, nil)
	tests := []struct {
		name, in, want string
	}{
		{"plain", "client-1", "client-1"},
		{"quotes", `say "hi"`, `say "hi"`},
		{"backslash", `C:\path\`, `C:\path\`},
		{"newline tab cr", "a\nb\tc\rd", "a\nb\tc\rd"},
		{"control chars", "\x00\x01\x1f\x7f", "\x00\x01\x1f\x7f"},
		{"html", "<script>&</script>", "<script>&</script>"},
		{"non-ASCII", "Zürich 東京 🦫", "Zürich 東京 🦫"},
		{"line separators", "a\u2028b\u2029c", "a\u2028b\u2029c"},
		{"invalid UTF-8", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"truncated rune", "\xe6\x9d", "\ufffd\ufffd"},
		{"json injection", `x","scope":"api`, `x","scope":"api`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims(clk.Now())
			c.Subject, c.Scope, c.AccountID, c.Issuer = tt.in, tt.in, tt.in, tt.in
			tok, err := k.Sign(&c)
			if err != nil {
				t.Fatal(err)
			}
			var payload map[string]any
			decodePart(t, tok, 1, &payload)
			for _, name := range []string{"iss", "sub", "scope", "account_id"} {
				if got := payload[name]; got != tt.want {
					t.Errorf("%s: got %q, want %q", name, got, tt.want)
				}
			}
			if len(payload) != 10 {
				t.Errorf("got %d claims, want 10: %v", len(payload), payload)
			}
			got, err := k.Verify(tok, clk.Now())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != tt.want {
				t.Errorf("Verify: got sub %q, want %q", got.Subject, tt.want)
			}
		})
	}
}

func TestOptionalClaims(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	c := testClaims(clk.Now())
	c.Scope, c.AccountID, c.NotBefore = "", "", time.Time{}
	tok, err := k.Sign(&c)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	decodePart(t, tok, 1, &payload)
	for _, name := range []string{"scope", "account_id", "nbf"} {
		if v, ok := payload[name]; ok {
			t.Errorf("got %s = %v, want it omitted", name, v)
		}
	}
	got, err := k.Verify(tok, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("Verify claims (-want +got):\n%s", diff)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\x1f", "é", "\xff", "\u2028", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, b, err)
		}
		want := s
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte by U+FFFD too.
			enc, _ := json.Marshal(s)
			json.Unmarshal(enc, &want)
		}
		if got != want {
			t.Errorf("appendJSONString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}

func TestNewJTI(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewJTI(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) != 16 {
			t.Fatalf("got %q (%d bytes, %v), want 16 bytes base64url", id, len(raw), err)
		}
		if seen[id] {
			t.Fatalf("got %q twice", id)
		}
		seen[id] = true
	}

	id, err := NewJTI(bytes.NewReader(bytes.Repeat([]byte{0xfb}, 16)))
	if want := "-_v7-_v7-_v7-_v7-_v7-w"; err != nil || id != want {
		t.Errorf("got %q, %v; want %q, nil", id, err, want)
	}
	if _, err := NewJTI(bytes.NewReader(make([]byte, 15))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: got %v, want io.ErrUnexpectedEOF", err)
	}
}
