package resource

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

func TestEndpointsDefaultCatalog(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	tests := []struct {
		scope, method, path string
		want                int
		wantScope           string // scope="..." of a 403
	}{
		{"api:read-only", "GET", "/records/1", 200, ""},
		{"api:read-only", "HEAD", "/records/1", 200, ""},
		{"api:read-only", "POST", "/records", 403, "api"},
		{"api:read-only", "DELETE", "/records/1", 403, "api"},
		{"search", "GET", "/records/7/search", 200, ""},
		{"search", "HEAD", "/records/7/search", 200, ""},
		{"search", "GET", "/records/7/search/x", 403, "api:read-only api"},
		{"search", "POST", "/records/7/search", 403, "api"},
		{"search", "GET", "/records/7", 403, "api:read-only api"},
		{"profile", "GET", "/workers/me", 200, ""},
		{"profile", "GET", "/workers/you", 403, "api:read-only api"},
		{"profile", "PUT", "/workers/me", 403, "api"},
		{"api", "DELETE", "/records/1", 200, ""},
		{"api", "POST", "/workers/me/avatar", 200, ""},
		{"profile search", "GET", "/records/2/search", 200, ""},
		{"profile search", "GET", "/workers/me", 200, ""},
		{"account:acme", "GET", "/workers/me", 403, "profile api:read-only api"},
		{"", "GET", "/records/1", 403, "api:read-only api"},
		{"unknown-scope", "GET", "/records/1", 403, "api:read-only api"},
		// Cleaned before matching: "." and ".." and "//" cannot widen access.
		{"search", "GET", "/records/7/./search", 200, ""},
		{"search", "GET", "/records//7/search/", 200, ""},
		{"search", "GET", "/records/7/x/../search", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.scope+" "+tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, iss.token(tt.scope))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 {
				if r := e.lastReason(); r != "" {
					t.Errorf("Observe reason %q, want \"\"", r)
				}
				return
			}
			wantChallenge := `Bearer realm="` + iss.URL() + `", error="insufficient_scope", scope="` + tt.wantScope + `"`
			if got := w.Header().Get("WWW-Authenticate"); got != wantChallenge {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, wantChallenge)
			}
			if b := decodeError(t, w); b.Error != "insufficient_scope" || !strings.Contains(b.Description, tt.wantScope) {
				t.Errorf("body %+v, want insufficient_scope naming %q", b, tt.wantScope)
			}
			if r := e.lastReason(); r != ReasonInsufficientScope {
				t.Errorf("Observe reason %q, want %q", r, ReasonInsufficientScope)
			}
		})
	}
}

func TestNoScopeAllows(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	// The API root matches no pattern, so no scope would allow it.
	w := e.do("GET", "/", iss.token("api"))
	if w.Code != 403 {
		t.Fatalf("status %d, want 403", w.Code)
	}
	want := `Bearer realm="` + iss.URL() + `", error="insufficient_scope", error_description="no scope allows this call"`
	if got := w.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
	}
}

func TestBadPath(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	tok := iss.token("api")
	for _, p := range []string{"/../records", "/records/%2e%2e/%2E%2E/x", "/records/%00", "/records/%7F", "/records/a%2F..%2Fadmin",
		// Spellings that servers read differently.
		"/records/7%2Fsearch", "/records/x%2fadmin", "/records/a%5Cb", `/records/a\b`, "/records/%2e", "/records/%252F"} {
		t.Run(p, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL = mustParse(t, p)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code != 400 {
				t.Fatalf("status %d, want 400; body %s", w.Code, w.Body)
			}
			if b := decodeError(t, w); b.Error != "invalid_request" {
				t.Errorf("error %q, want invalid_request", b.Error)
			}
			if r := e.lastReason(); r != ReasonInvalidRequest {
				t.Errorf("Observe reason %q, want %q", r, ReasonInvalidRequest)
			}
		})
	}
}

// TestAllowEncodedSlashes: with AllowEncodedSlashes, "%2F" is part of one
// segment (so only "*" matches it); the other refusals stay.
func TestAllowEncodedSlashes(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.AllowEncodedSlashes = true })
	for _, tt := range []struct {
		scope, path string
		want        int
	}{
		{"search", "/records/7/search", 200},
		{"search", "/records/7%2Fsearch", 403}, // one segment "7/search"
		{"search", "/records/x%2Fadmin/search", 200},
		{"api:read-only", "/records/7%2Fsearch", 200},
		{"api", "/records/a%2F..%2Fadmin", 400},
		{"api", "/records/a%5Cb", 400},
		{"api", "/records/%2e%2e/x", 400},
		{"api", "/records/%252F", 400},
	} {
		t.Run(tt.scope+" "+tt.path, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL = mustParse(t, tt.path)
			r.Header.Set("Authorization", "Bearer "+iss.token(tt.scope))
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
		})
	}
}

// TestMethodOverride: a request that the API would take for another method
// must be allowed as both.
func TestMethodOverride(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) {
		c.MethodOverride = func(r *http.Request) (string, error) {
			switch v := r.URL.Query()["_method"]; len(v) {
			case 0:
				return "", nil
			case 1:
				return v[0], nil
			}
			return "", errors.New("more than one _method parameter")
		}
	})
	for _, tt := range []struct {
		scope, method, path string
		want                int
		wantScope           string
	}{
		{"api:read-only", "GET", "/records/1", 200, ""},
		{"api:read-only", "GET", "/records/1?_method=GET", 200, ""},
		{"api:read-only", "POST", "/records/1?_method=DELETE", 403, "api"},
		{"api:read-only", "GET", "/records/1?_method=DELETE", 403, "api"},
		{"api", "POST", "/records/1?_method=DELETE", 200, ""},
		{"api", "POST", "/records/1?_method=DELETE&_method=PUT", 400, ""},
	} {
		t.Run(tt.scope+" "+tt.method+" "+tt.path, func(t *testing.T) {
			w := e.do(tt.method, tt.path, iss.token(tt.scope))
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.wantScope != "" {
				if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `scope="`+tt.wantScope+`"`) {
					t.Errorf("WWW-Authenticate: got %s, want scope=%q", got, tt.wantScope)
				}
			}
			if tt.want == 400 {
				if b := decodeError(t, w); b.Error != "invalid_request" || !strings.Contains(b.Description, "more than one") {
					t.Errorf("body %+v, want invalid_request with the override's error", b)
				}
			}
		})
	}
}

func TestMissingToken(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	tok := iss.token("api")
	tests := []struct {
		name    string
		path    string
		headers []string
	}{
		{"no header", "/records/1", nil},
		{"empty header", "/records/1", []string{"Authorization", ""}},
		{"basic scheme", "/records/1", []string{"Authorization", "Basic Y2xpZW50OnNlY3JldA=="}},
		{"another scheme", "/records/1", []string{"Authorization", "Bearertoken " + tok}},
		{"token in query", "/records/1?access_token=" + tok, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("GET", tt.path, "", tt.headers...)
			if w.Code != 401 {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="`+iss.URL()+`"`; got != want {
				t.Errorf("WWW-Authenticate %s, want %s", got, want)
			}
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if b := decodeError(t, w); b.Error != "unauthorized" {
				t.Errorf("error %q, want unauthorized", b.Error)
			}
			if r := e.lastReason(); r != ReasonMissingToken {
				t.Errorf("Observe reason %q, want %q", r, ReasonMissingToken)
			}
		})
	}
}

func TestInvalidTokens(t *testing.T) {
	iss := newIssuer(t)
	ec := newECKey(t, "test-ec")
	iss.extra = append(iss.extra, ec)
	e := newEnv(t, iss, func(c *Config) { c.Leeway = 10 * time.Second })
	now := iss.clock.Now()

	valid := func() map[string]any { return wireOf(iss.claims("api")) }
	with := func(k string, v any) map[string]any {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hdr := func(k string, v any) map[string]any {
		h := ecHeader(ec)
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	good := iss.token("api")
	parts := strings.Split(good, ".")
	ghost := newECKey(t, "ghost") // not in the JWKS

	// HS256 "signed" with the public key: the classic algorithm confusion.
	pubJWK := ec.jwk(t)
	hs := func() string {
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": ec.kid})
		c, _ := json.Marshal(valid())
		input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
		m := hmac.New(sha256.New, pubJWK)
		m.Write([]byte(input))
		return input + "." + b64.EncodeToString(m.Sum(nil))
	}()
	none := func() string {
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "at+jwt", "kid": ec.kid})
		c, _ := json.Marshal(valid())
		return b64.EncodeToString(h) + "." + b64.EncodeToString(c) + "."
	}()
	tamperedPayload := func() string {
		c := iss.claims("profile")
		tok := iss.mint(c)
		p := strings.Split(tok, ".")
		c.Scope = "api"
		forged, _ := json.Marshal(wireOf(c))
		return p[0] + "." + b64.EncodeToString(forged) + "." + p[2]
	}()
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	flipped := b64.EncodeToString(sig)

	tests := []struct {
		name   string
		auth   string // the whole Authorization header
		reason string
		desc   string // substring of error_description
	}{
		{"bearer without token", "Bearer", ReasonInvalidToken, "malformed"},
		{"bearer and spaces", "Bearer   ", ReasonInvalidToken, "malformed"},
		{"space inside token", "Bearer " + parts[0] + " " + parts[1], ReasonInvalidToken, "malformed"},
		{"illegal character", "Bearer " + good + "!", ReasonInvalidToken, "malformed"},
		{"garbage", "Bearer abc", ReasonInvalidToken, "not a JWT"},
		{"two parts", "Bearer " + parts[0] + "." + parts[1], ReasonInvalidToken, "not a JWT"},
		{"JWE-like", "Bearer a.b.c.d.e", ReasonInvalidToken, "not a signed JWT"},
		{"too long", "Bearer " + strings.Repeat("a", maxTokenLen+1), ReasonInvalidToken, "malformed"},
		{"padded base64", "Bearer " + parts[0] + "=." + parts[1] + "." + parts[2], ReasonInvalidToken, "malformed"},
		{"tampered payload", "Bearer " + tamperedPayload, ReasonInvalidToken, "bad signature"},
		{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + flipped, ReasonInvalidToken, "bad signature"},
		{"signature cut", "Bearer " + parts[0] + "." + parts[1] + "." + parts[2][:20], ReasonInvalidToken, "signature"},
		{"expired", "Bearer " + signRaw(t, ec, ecHeader(ec), with("exp", now.Add(-11*time.Second).Unix())), ReasonExpired, "expired"},
		{"not yet valid", "Bearer " + signRaw(t, ec, ecHeader(ec), with("nbf", now.Add(11*time.Second).Unix())), ReasonInvalidToken, "not valid yet"},
		{"wrong issuer", "Bearer " + signRaw(t, ec, ecHeader(ec), with("iss", "https://evil.example.com")), ReasonInvalidToken, "issuer"},
		{"issuer with slash", "Bearer " + signRaw(t, ec, ecHeader(ec), with("iss", iss.URL()+"/")), ReasonInvalidToken, "issuer"},
		{"wrong audience", "Bearer " + signRaw(t, ec, ecHeader(ec), with("aud", "https://other.example.com")), ReasonInvalidToken, "audience"},
		{"audience list without ours", "Bearer " + signRaw(t, ec, ecHeader(ec), with("aud", []string{"a", "b"})), ReasonInvalidToken, "audience"},
		{"no audience", "Bearer " + signRaw(t, ec, ecHeader(ec), with("aud", nil)), ReasonInvalidToken, "audience"},
		{"no exp", "Bearer " + signRaw(t, ec, ecHeader(ec), with("exp", nil)), ReasonInvalidToken, "exp"},
		{"exp as string", "Bearer " + signRaw(t, ec, ecHeader(ec), with("exp", "99999999999")), ReasonInvalidToken, "malformed claims"},
		{"no jti", "Bearer " + signRaw(t, ec, ecHeader(ec), with("jti", nil)), ReasonInvalidToken, "missing claims"},
		{"no client_id", "Bearer " + signRaw(t, ec, ecHeader(ec), with("client_id", nil)), ReasonInvalidToken, "missing claims"},
		{"bad scope claim", "Bearer " + signRaw(t, ec, ecHeader(ec), with("scope", "api  search")), ReasonInvalidToken, "scope"},
		{"bad account claim", "Bearer " + signRaw(t, ec, ecHeader(ec), with("account_id", "a b")), ReasonInvalidToken, "account_id"},
		{"typ JWT", "Bearer " + signRaw(t, ec, hdr("typ", "JWT"), valid()), ReasonInvalidToken, "typ"},
		{"no typ", "Bearer " + signRaw(t, ec, hdr("typ", nil), valid()), ReasonInvalidToken, "typ"},
		{"crit header", "Bearer " + signRaw(t, ec, hdr("crit", []string{"exp"}), valid()), ReasonInvalidToken, "critical"},
		{"alg none", "Bearer " + none, ReasonInvalidToken, "malformed signature"},
		{"alg none with signature", "Bearer " + none + "c2ln", ReasonInvalidToken, "algorithm none is not accepted"},
		{"HS256 with the public key", "Bearer " + hs, ReasonInvalidToken, "algorithm HS256 is not accepted"},
		{"RS256 header on an EC key", "Bearer " + signRaw(t, ec, hdr("alg", RS256), valid()), ReasonInvalidToken, "bad signature"},
		{"EdDSA header on an EC key", "Bearer " + signRaw(t, ec, hdr("alg", EdDSA), valid()), ReasonInvalidToken, "bad signature"},
		{"unknown kid", "Bearer " + signRaw(t, ghost, ecHeader(ghost), valid()), ReasonInvalidToken, "unknown key"},
		{"no kid", "Bearer " + signRaw(t, ec, hdr("kid", nil), valid()), ReasonInvalidToken, "unknown key"},
		{"signed by another key under our kid", "Bearer " + signRaw(t, ghost, ecHeader(ec), valid()), ReasonInvalidToken, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do("GET", "/records/1", "", "Authorization", tt.auth)
			if w.Code != 401 {
				t.Fatalf("status %d, want 401; body %s", w.Code, w.Body)
			}
			b := decodeError(t, w)
			if b.Error != "invalid_token" || !strings.Contains(b.Description, tt.desc) {
				t.Errorf("body %+v, want invalid_token with %q", b, tt.desc)
			}
			want := `Bearer realm="` + iss.URL() + `", error="invalid_token", error_description=` + quoteDesc(b.Description)
			if got := w.Header().Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
			}
			if r := e.lastReason(); r != tt.reason {
				t.Errorf("Observe reason %q, want %q", r, tt.reason)
			}
		})
	}

	// Sanity: the same construction with nothing wrong passes, so each
	// case above fails for its own reason.
	for name, tok := range map[string]string{
		"test key":                 signRaw(t, ec, ecHeader(ec), valid()),
		"typ application/at+jwt":   signRaw(t, ec, hdr("typ", "application/AT+JWT"), valid()),
		"audience list":            signRaw(t, ec, ecHeader(ec), with("aud", []string{"x", testAudience})),
		"expired within leeway":    signRaw(t, ec, ecHeader(ec), with("exp", now.Add(-9*time.Second).Unix())),
		"not yet valid but leeway": signRaw(t, ec, ecHeader(ec), with("nbf", now.Add(9*time.Second).Unix())),
		"fractional dates":         signRaw(t, ec, ecHeader(ec), with("exp", float64(now.Add(time.Hour).Unix())+0.5)),
		"no nbf":                   signRaw(t, ec, ecHeader(ec), with("nbf", nil)),
		"keyring token":            good,
	} {
		if w := e.do("GET", "/records/1", "", "Authorization", "Bearer "+tok); w.Code != 200 {
			t.Errorf("%s: status %d, want 200; body %s", name, w.Code, w.Body)
		}
	}
	if w := e.do("GET", "/records/1", "", "Authorization", "bEaReR  "+good); w.Code != 200 {
		t.Errorf("scheme in mixed case, two spaces: status %d, want 200", w.Code)
	}
	r := httptest.NewRequest("GET", "/records/1", nil)
	r.Header.Add("Authorization", "Bearer "+good)
	r.Header.Add("Authorization", "Bearer "+good)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("two Authorization headers: %d %s, want 401 invalid_token", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestAlgorithmsAllowList(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.Algorithms = []string{RS256} })
	w := e.do("GET", "/records/1", iss.token("api"))
	if w.Code != 401 || !strings.Contains(decodeError(t, w).Description, "algorithm ES256 is not accepted") {
		t.Errorf("ES256 token with Algorithms [RS256]: %d %s, want 401", w.Code, w.Body)
	}
}

func TestOtherAlgorithms(t *testing.T) {
	for _, alg := range []string{RS256, PS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			iss := newIssuerAlg(t, alg)
			e := newEnv(t, iss, nil)
			tok := iss.token("api")
			if w := e.do("GET", "/records/1", tok); w.Code != 200 {
				t.Fatalf("status %d, want 200; body %s", w.Code, w.Body)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	tok := iss.token("api")
	if w := e.do("GET", "/records/1", tok); w.Code != 200 {
		t.Fatalf("fresh token: status %d", w.Code)
	}
	iss.clock.Add(time.Hour + DefaultLeeway - time.Second) // the cached entry expired at exp
	if w := e.do("GET", "/records/1", tok); w.Code != 200 {
		t.Fatalf("within the leeway: status %d", w.Code)
	}
	iss.clock.Add(time.Second)
	w := e.do("GET", "/records/1", tok)
	if w.Code != 401 || decodeError(t, w).Description != "token expired" {
		t.Fatalf("expired: %d %s, want 401 token expired", w.Code, w.Body)
	}
	if r := e.lastReason(); r != ReasonExpired {
		t.Errorf("Observe reason %q, want %q", r, ReasonExpired)
	}
}

func TestClaimsInContext(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	c := iss.claims("search api:read-only account:acme")
	c.AccountID = "acme"
	c.Subject = "user-7"
	w := e.do("GET", "/records/1", iss.mint(c))
	if w.Code != 200 {
		t.Fatalf("status %d; body %s", w.Code, w.Body)
	}
	want := &Claims{
		Issuer:    iss.URL(),
		Subject:   "user-7",
		ClientID:  "client-1",
		AccountID: "acme",
		JTI:       c.JTI,
		Audience:  []string{testAudience},
		Scopes:    []string{"search", "api:read-only", "account:acme"},
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		ExpiresAt: c.ExpiresAt,
	}
	if diff := cmp.Diff(want, decodeSeen(t, w).Claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if _, ok := ClaimsFrom(httptest.NewRequest("GET", "/", nil).Context()); ok {
		t.Error("ClaimsFrom on a bare context: ok")
	}
}

func TestAccount(t *testing.T) {
	iss := newIssuer(t)
	c := iss.claims("api account:acme")
	c.AccountID = "acme"
	restricted := iss.mint(c)
	free := iss.token("api")
	tests := []struct {
		name        string
		header      string // account header name in the config; "" default
		tok         string
		headers     []string
		want        int
		wantAccount string
		reason      string
	}{
		{"right account", "", restricted, []string{"X-Account", "acme"}, 200, "acme", ""},
		{"no header: set for the handler", "", restricted, nil, 200, "acme", ""},
		{"empty header: set for the handler", "", restricted, []string{"X-Account", ""}, 200, "acme", ""},
		{"wrong account", "", restricted, []string{"X-Account", "globex"}, 403, "", ReasonAccountMismatch},
		{"case matters", "", restricted, []string{"X-Account", "ACME"}, 403, "", ReasonAccountMismatch},
		{"repeated header", "", restricted, []string{"X-Account", "acme", "X-Account", "acme"}, 400, "", ReasonInvalidRequest},
		{"custom header right", "X-Tenant", restricted, []string{"X-Tenant", "acme"}, 200, "acme", ""},
		{"custom header wrong", "X-Tenant", restricted, []string{"X-Tenant", "globex", "X-Account", "acme"}, 403, "", ReasonAccountMismatch},
		{"custom header missing", "x-tenant", restricted, []string{"X-Account", "globex"}, 200, "acme", ""},
		{"unrestricted token keeps the header", "", free, []string{"X-Account", "globex"}, 200, "globex", ""},
		{"unrestricted token, no header", "", free, nil, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, iss, func(c *Config) { c.AccountHeader = tt.header })
			w := e.do("GET", "/records/1", tt.tok, tt.headers...)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if r := e.lastReason(); r != tt.reason {
				t.Errorf("Observe reason %q, want %q", r, tt.reason)
			}
			switch tt.want {
			case 200:
				if got := decodeSeen(t, w).Account; got != tt.wantAccount {
					t.Errorf("handler saw account %q, want %q", got, tt.wantAccount)
				}
			case 403:
				b := decodeError(t, w)
				if b.Error != "insufficient_scope" || !strings.Contains(b.Description, "account acme, not ") {
					t.Errorf("body %+v, want insufficient_scope naming account acme", b)
				}
				want := `Bearer realm="` + iss.URL() + `", error="insufficient_scope", error_description=` + quoteDesc(b.Description)
				if got := w.Header().Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

func TestAccountHeaderNotLeaked(t *testing.T) {
	// Setting the header for the handler must not change the caller's
	// request (a middleware may not modify its input).
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	c := iss.claims("api account:acme")
	c.AccountID = "acme"
	r := httptest.NewRequest("GET", "/records/1", nil)
	r.Header.Set("Authorization", "Bearer "+iss.mint(c))
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	if w.Code != 200 || decodeSeen(t, w).Account != "acme" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := r.Header.Get("X-Account"); got != "" {
		t.Errorf("the caller's request now has X-Account %q", got)
	}
}

func TestBasePath(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.BasePath = "/api/" })
	tok := iss.token("search")
	tests := []struct {
		path string
		want int
	}{
		{"/api/records/1/search", 200},
		{"/api/records/1/search/", 200},
		{"/api//records/1/search", 200},
		{"/api/records/1", 403},
		{"/api", 403},
		{"/api/", 403},
		{"/records/1/search", 404},
		{"/apix/records/1/search", 404},
		{"/API/records/1/search", 404},
		{"/", 404},
		{"/api/../api/records/1/search", 400}, // ".." is resolved below the base path only
		{"/api/../records/1/search", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.URL = mustParse(t, tt.path)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 200 && decodeSeen(t, w).Path != tt.path {
				t.Errorf("the handler saw path %q, want the original %q", decodeSeen(t, w).Path, tt.path)
			}
			if tt.want == 404 {
				if b := decodeError(t, w); b.Error != "not_found" {
					t.Errorf("error %q, want not_found", b.Error)
				}
				if r := e.lastReason(); r != ReasonOutsideBasePath {
					t.Errorf("Observe reason %q, want %q", r, ReasonOutsideBasePath)
				}
			}
		})
	}
	// Outside the base path no token is needed to learn it's a 404.
	if w := e.do("GET", "/elsewhere", ""); w.Code != 404 {
		t.Errorf("no token outside the base path: status %d, want 404", w.Code)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{Issuer: "https://auth.example.com", Audience: "api", RevocationPoll: -1}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for none
	}{
		{"ok", func(*Config) {}, ""},
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer is required"},
		{"relative issuer", func(c *Config) { c.Issuer = "auth.example.com" }, "not an http(s) URL"},
		{"issuer with query", func(c *Config) { c.Issuer = "https://a.example.com?x=1" }, "not an http(s) URL"},
		{"no audience", func(c *Config) { c.Audience = "" }, "Audience is required"},
		{"alg none", func(c *Config) { c.Algorithms = []string{"none"} }, `"none" is not supported`},
		{"HS256", func(c *Config) { c.Algorithms = []string{ES256, "HS256"} }, `"HS256" is not supported`},
		{"empty algorithms", func(c *Config) { c.Algorithms = []string{} }, "Algorithms is empty"},
		{"base path relative", func(c *Config) { c.BasePath = "api" }, "must start with /"},
		{"base path dotdot", func(c *Config) { c.BasePath = "/api/../x" }, "segment"},
		{"base path escaped", func(c *Config) { c.BasePath = "/a%20b" }, "character"},
		{"base path root", func(c *Config) { c.BasePath = "/" }, ""},
		{"bad header name", func(c *Config) { c.AccountHeader = "X Account" }, "not a valid header name"},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, "Leeway is negative"},
		{"negative refresh", func(c *Config) { c.JWKSMinRefresh = -time.Second }, "JWKSMinRefresh is negative"},
		{"secret without id", func(c *Config) { c.ClientSecret = "s" }, "without ClientID"},
		{"cache disabled", func(c *Config) { c.CacheSize = -1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			g, err := New(cfg)
			if g != nil {
				g.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Error("Middleware with an invalid config did not panic")
		}
	}()
	Middleware(Config{})
}

func TestCustomCatalogAndRealm(t *testing.T) {
	iss := newIssuer(t)
	cat, err := scope.Parse([]byte("scopes:\n  reports:\n    label: Read reports\n    endpoints:\n      - reports/*: GET\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, iss, func(c *Config) { c.Catalog, c.Realm = cat, `my "api"` })
	if w := e.do("GET", "/reports/q1", iss.token("reports")); w.Code != 200 {
		t.Errorf("reports: status %d, want 200", w.Code)
	}
	w := e.do("GET", "/records/1", iss.token("api"))
	if w.Code != 403 {
		t.Errorf("api (not in this catalog): status %d, want 403", w.Code)
	}
	w = e.do("GET", "/reports/q1", "")
	if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="my \"api\""`; got != want {
		t.Errorf("WWW-Authenticate %s, want %s", got, want)
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestHandlerNotCalledOnRefusal(t *testing.T) {
	iss := newIssuer(t)
	g, err := New(Config{Issuer: iss.URL(), Audience: testAudience, RevocationPoll: -1, Now: iss.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	called := false
	h := g.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	for _, tok := range []string{"", "x.y.z", iss.token("profile")} {
		r := httptest.NewRequest("POST", "/records", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if called {
		t.Error("the handler was called for a refused request")
	}
}

// TestWriteError: a guard with WriteError lets the API write refusals in
// its own format, after the challenge is set.
func TestWriteError(t *testing.T) {
	iss := newIssuer(t)
	var got []Refusal
	e := newEnv(t, iss, func(c *Config) {
		c.WriteError = func(w http.ResponseWriter, r *http.Request, ref Refusal) {
			got = append(got, ref)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(ref.Status)
			w.Write([]byte(`{"status":` + strconv.Itoa(ref.Status) + `}`))
		}
	})
	w := e.do("GET", "/records/1/search", iss.token("profile"))
	if w.Code != 403 || w.Header().Get("Content-Type") != "application/problem+json" || w.Body.String() != `{"status":403}` {
		t.Errorf("refusal: %d %s %s, want WriteError's 403", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v: want the insufficient_scope challenge and no-store", w.Header())
	}
	w = e.do("GET", "/records/1", "")
	if w.Code != 401 || w.Body.String() != `{"status":401}` {
		t.Errorf("no token: %d %s", w.Code, w.Body)
	}
	want := []Refusal{
		{Status: 403, Code: "insufficient_scope", Scope: "search api:read-only api", Reason: ReasonInsufficientScope},
		{Status: 401, Code: "unauthorized", Reason: ReasonMissingToken},
	}
	for i := range got {
		got[i].Description = ""
	}
	if !slices.Equal(got, want) {
		t.Errorf("refusals %+v, want %+v", got, want)
	}
}
