package jws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var now = time.Unix(1_750_000_000, 0)

type testKey struct {
	alg  string
	priv crypto.Signer
	key  *Key
}

func newTestKey(t testing.TB, kid, alg string) *testKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256, PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(kid, alg, priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{alg: alg, priv: priv, key: k}
}

// sign signs header and claims (values or raw JSON strings) with k.
func (k *testKey) sign(t testing.TB, header, claims any) string {
	t.Helper()
	enc := func(v any) string {
		if s, ok := v.(string); ok {
			return b64.EncodeToString([]byte(s))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k.alg {
	case ES256:
		r, s, e := ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), d[:])
		if err = e; err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case RS256:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case PS256:
		sig, err = rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case EdDSA:
		sig = ed25519.Sign(k.priv.(ed25519.PrivateKey), []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func (k *testKey) header() map[string]any {
	return map[string]any{"alg": k.alg, "typ": "at+jwt", "kid": k.key.ID}
}

func validClaims() map[string]any {
	return map[string]any{
		"iss": "https://issuer.example", "sub": "c", "aud": "api", "exp": now.Unix() + 3600,
		"iat": now.Unix(), "jti": "j", "client_id": "c", "scope": "api",
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func keysOf(ks ...*testKey) Keys {
	return func(kid string) *Key {
		for _, k := range ks {
			if k.key.ID == kid {
				return k.key
			}
		}
		return nil
	}
}

var policy = Policy{Issuer: "https://issuer.example", Audience: "api", Leeway: DefaultLeeway, Now: now}

func TestVerifyAlgorithms(t *testing.T) {
	for _, alg := range []string{ES256, RS256, PS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k := newTestKey(t, "k-"+alg, alg)
			c, err := Verify(k.sign(t, k.header(), validClaims()), keysOf(k), policy)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "c" || c.ClientID != "c" || c.JTI != "j" || len(c.Audience) != 1 || c.Audience[0] != "api" ||
				!c.ExpiresAt.Equal(now.Add(time.Hour)) || !c.IssuedAt.Equal(now) || !c.NotBefore.IsZero() {
				t.Errorf("got claims %+v", c)
			}
		})
	}
}

func TestVerifyReasons(t *testing.T) {
	ec := newTestKey(t, "ec", ES256)
	ed := newTestKey(t, "ed", EdDSA)
	ghost := newTestKey(t, "ghost", ES256)
	keys := keysOf(ec, ed)
	good := ec.sign(t, ec.header(), validClaims())
	p := strings.Split(good, ".")
	hdr := func(kv ...any) map[string]any { return with(ec.header(), kv...) }
	tests := []struct {
		name   string
		token  string
		pol    func(*Policy)
		reason Reason
		desc   string
	}{
		{"empty", "", nil, Malformed, "not a JWT"},
		{"two parts", p[0] + "." + p[1], nil, Malformed, "not a JWT"},
		{"JWE", "a.b.c.d.e", nil, Malformed, "not a signed JWT"},
		{"too long", strings.Repeat("a", MaxTokenLen+1), nil, Malformed, "too long"},
		{"padded header", p[0] + "=." + p[1] + "." + p[2], nil, Malformed, "JOSE header"},
		{"no signature", p[0] + "." + p[1] + ".", nil, Malformed, "malformed signature"},
		{"claims not JSON", ec.sign(t, ec.header(), "nope"), nil, Malformed, "malformed claims"},
		{"exp a string", ec.sign(t, ec.header(), with(validClaims(), "exp", "1")), nil, Malformed, "malformed claims"},
		{"aud a number", ec.sign(t, ec.header(), with(validClaims(), "aud", 1)), nil, Malformed, "malformed claims"},
		{"typ JWT", ec.sign(t, hdr("typ", "JWT"), validClaims()), nil, BadHeader, "typ"},
		{"no typ", ec.sign(t, hdr("typ", nil), validClaims()), nil, BadHeader, "typ"},
		{"crit", ec.sign(t, hdr("crit", []string{"exp"}), validClaims()), nil, BadHeader, "critical"},
		{"alg none", ec.sign(t, hdr("alg", "none"), validClaims()), nil, BadAlgorithm, "algorithm none"},
		{"alg HS256", ec.sign(t, hdr("alg", "HS256"), validClaims()), nil, BadAlgorithm, "algorithm HS256"},
		{"alg not allowed", good, func(p *Policy) { p.Algorithms = []string{EdDSA} }, BadAlgorithm, "algorithm ES256"},
		{"unknown kid", ghost.sign(t, ghost.header(), validClaims()), nil, UnknownKey, "unknown key"},
		{"no kid", ec.sign(t, hdr("kid", nil), validClaims()), nil, UnknownKey, "unknown key"},
		{"alg confusion", ed.sign(t, with(ed.header(), "kid", "ec"), validClaims()), nil, BadSignature, "does not suit"},
		{"other key under our kid", ghost.sign(t, ec.header(), validClaims()), nil, BadSignature, "bad signature"},
		{"tampered", p[0] + "." + b64.EncodeToString([]byte(`{"iss":"x"}`)) + "." + p[2], nil, BadSignature, "bad signature"},
		{"wrong issuer", ec.sign(t, ec.header(), with(validClaims(), "iss", "https://evil.example")), nil, WrongIssuer, "issuer"},
		{"wrong audience", ec.sign(t, ec.header(), with(validClaims(), "aud", []string{"a", "b"})), nil, WrongAudience, "audience"},
		{"no audience", ec.sign(t, ec.header(), with(validClaims(), "aud", nil)), nil, WrongAudience, "audience"},
		{"no exp", ec.sign(t, ec.header(), with(validClaims(), "exp", nil)), nil, MissingClaim, "exp"},
		{"expired", ec.sign(t, ec.header(), with(validClaims(), "exp", now.Unix()-30)), nil, Expired, "expired"},
		{"expired, no leeway", ec.sign(t, ec.header(), with(validClaims(), "exp", now.Unix())), func(p *Policy) { p.Leeway = 0 }, Expired, "expired"},
		{"not yet valid", ec.sign(t, ec.header(), with(validClaims(), "nbf", now.Unix()+31)), nil, NotYetValid, "not valid yet"},
		{"no jti", ec.sign(t, ec.header(), with(validClaims(), "jti", nil)), nil, MissingClaim, "missing claims (RFC 9068 §2.2): jti"},
		{"empty sub", ec.sign(t, ec.header(), with(validClaims(), "sub", "")), nil, MissingClaim, "sub"},
		{"several missing", ec.sign(t, ec.header(), with(validClaims(), "iat", nil, "client_id", nil)), nil, MissingClaim, ": iat client_id"},
		{"nbf required", good, func(p *Policy) { p.Required = RFC9068 | Nbf }, MissingClaim, "nbf"},
		{"no iss, none expected", ec.sign(t, ec.header(), with(validClaims(), "iss", nil)), func(p *Policy) { p.Issuer = "" }, MissingClaim, "iss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := policy
			if tt.pol != nil {
				tt.pol(&pol)
			}
			_, err := Verify(tt.token, keys, pol)
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("got %v, want a *jws.Error", err)
			}
			if je.Reason != tt.reason || !strings.Contains(je.Desc, tt.desc) {
				t.Errorf("got %v %q, want %v with %q", je.Reason, je.Desc, tt.reason, tt.desc)
			}
		})
	}

	accepted := map[string]string{
		"good":                   good,
		"aud array":              ec.sign(t, ec.header(), with(validClaims(), "aud", []string{"x", "api"})),
		"typ application/at+jwt": ec.sign(t, hdr("typ", "application/AT+JWT"), validClaims()),
		"expired within leeway":  ec.sign(t, ec.header(), with(validClaims(), "exp", now.Unix()-29)),
		"nbf within leeway":      ec.sign(t, ec.header(), with(validClaims(), "nbf", now.Unix()+30)),
		"fractional exp":         ec.sign(t, ec.header(), with(validClaims(), "exp", float64(now.Unix())+3600.5)),
		"EdDSA":                  ed.sign(t, ed.header(), validClaims()),
	}
	for name, tok := range accepted {
		if _, err := Verify(tok, keys, policy); err != nil {
			t.Errorf("%s: got %v, want it accepted", name, err)
		}
	}
	// Without Issuer and Audience in the policy neither is compared, but
	// both must be there.
	if _, err := Verify(ec.sign(t, ec.header(), with(validClaims(), "iss", "other", "aud", "other")), keys, Policy{Leeway: DefaultLeeway, Now: now}); err != nil {
		t.Errorf("open policy: got %v, want accepted", err)
	}
}

func TestNewKey(t *testing.T) {
	ec := newTestKey(t, "ec", ES256)
	if _, err := NewKey("x", RS256, ec.priv.Public()); err == nil {
		t.Error("EC key with RS256: got no error")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewKey("x", "", p384.Public()); err == nil {
		t.Error("P-384 key: got no error")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewKey("x", "", small.Public()); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Errorf("1024-bit RSA key: got %v", err)
	}
	if _, err := NewKey("x", "", []byte("secret")); err == nil {
		t.Error("symmetric key: got no error")
	}
	again, _ := NewKey("ec", ES256, ec.priv.Public())
	if !ec.key.Equal(again) || ec.key.Equal(nil) {
		t.Error("Equal: wrong answer")
	}
}

// FuzzVerify feeds arbitrary tokens to the verifier. A token it accepts
// must meet the policy and also verify with go-jose, to the same payload.
func FuzzVerify(f *testing.F) {
	ec := newTestKey(f, "ec", ES256)
	ed := newTestKey(f, "ed", EdDSA)
	keys := keysOf(ec, ed)
	for _, k := range []*testKey{ec, ed} {
		good := k.sign(f, k.header(), validClaims())
		f.Add(good)
		i := strings.LastIndexByte(good, '.')
		f.Add(good[:i+1])
		f.Add(good[:i])
		f.Add(k.sign(f, k.header(), with(validClaims(), "aud", []string{"x", "api"})))
	}
	f.Add(ec.sign(f, with(ec.header(), "alg", "none"), validClaims()))
	f.Add(ec.sign(f, with(ec.header(), "crit", []string{"x"}), validClaims()))
	f.Add(ec.sign(f, ec.header(), map[string]any{"iss": "https://issuer.example", "aud": []any{"api", 1}, "exp": "x"}))
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "e30.e30.AA", "eyJhbGciOiJub25lIn0.e30.", "bnVsbA.bnVsbA.AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(tok, keys, policy)
		if err != nil {
			var je *Error
			if !errors.As(err, &je) || je.Reason == 0 || je.Desc == "" {
				t.Fatalf("%q: refused with %#v", tok, err)
			}
			return
		}
		if c.Issuer != policy.Issuer || c.Subject == "" || c.ClientID == "" || c.JTI == "" || c.IssuedAt.IsZero() ||
			!now.Before(c.ExpiresAt.Add(policy.Leeway)) {
			t.Fatalf("%q: accepted with claims %+v", tok, c)
		}
		audOK := false
		for _, a := range c.Audience {
			audOK = audOK || a == policy.Audience
		}
		if !audOK {
			t.Fatalf("%q: accepted with aud %v", tok, c.Audience)
		}
		parsed, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
		if err != nil {
			t.Fatalf("%q: accepted here, go-jose cannot parse it: %v", tok, err)
		}
		k := keys(parsed.Signatures[0].Header.KeyID)
		var pub crypto.PublicKey = k.ec
		if k.ed != nil {
			pub = k.ed
		}
		payload, err := parsed.Verify(pub)
		if err != nil {
			t.Fatalf("%q: accepted here, go-jose does not verify it: %v", tok, err)
		}
		want, _ := b64.DecodeString(strings.Split(tok, ".")[1])
		if string(payload) != string(want) {
			t.Fatalf("%q: go-jose verified another payload", tok)
		}
	})
}
