package server

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/store"
)

// assertionKey is a client's key pair for private_key_jwt.
type assertionKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
	pub  any
}

func newAssertionKey(t testing.TB, kid string) *assertionKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &assertionKey{kid: kid, alg: jose.ES256, priv: k, pub: &k.PublicKey}
}

func jwksDoc(t testing.TB, keys ...*assertionKey) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{KeyID: k.kid, Algorithm: string(k.alg), Use: "sig", Key: k.pub})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign signs claims with k, with the given extra header parameters.
func (k *assertionKey) sign(t testing.TB, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	for n, v := range hdr {
		opts = opts.WithHeader(n, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertionClaims are good claims of an assertion of client id at now.
func assertionClaims(id, aud string, now time.Time, jti string) map[string]any {
	return map[string]any{"iss": id, "sub": id, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": jti}
}

func withClaims(c map[string]any, kv ...any) map[string]any {
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

func assertionBody(assertion string) string {
	return "client_assertion_type=" + url.QueryEscape(AssertionTypeJWTBearer) + "&client_assertion=" + url.QueryEscape(assertion)
}

func (h *harness) assertionToken(assertion, extra string) response {
	h.t.Helper()
	body := "grant_type=client_credentials&" + assertionBody(assertion)
	if extra != "" {
		body += "&" + extra
	}
	return h.post(PathToken, body, nil)
}

func newJTI() string { return rand.Text() }

func TestClientAssertionTokenEndpoint(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) { o.FailureBurst = 100 }})
	k := newAssertionKey(t, "k1")
	id, sec := h.client(clients.Spec{TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKS: jwksDoc(t, k)})
	if sec != "" {
		t.Fatalf("a private_key_jwt client got a secret")
	}
	secretID, secret := h.client(clients.Spec{})
	now := h.clock.Now()
	tokenURL := "http://issuer.test" + PathToken
	good := func() map[string]any { return assertionClaims(id, tokenURL, now, newJTI()) }

	r := h.assertionToken(k.sign(t, good(), nil), "")
	if r.status != http.StatusOK || r.json["access_token"] == nil {
		t.Fatalf("a good assertion: got %d %s, want a token", r.status, r.body)
	}
	if got := claims(t, r.json["access_token"].(string))["client_id"]; got != id {
		t.Errorf("token client_id: got %v, want %s", got, id)
	}

	other := newAssertionKey(t, "k1") // same kid, another key
	hs := &assertionKey{kid: "k1", alg: jose.HS256, priv: []byte(strings.Repeat("s", 32))}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ed := &assertionKey{kid: "k1", alg: jose.EdDSA, priv: edPriv}
	noneToken := func() string {
		enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
		return enc(map[string]any{"alg": "none", "kid": "k1"}) + "." + enc(good()) + "."
	}
	tests := []struct {
		name      string
		assertion string
		extra     string
	}{
		{"wrong iss", k.sign(t, withClaims(good(), "iss", secretID), nil), ""},
		{"wrong sub", k.sign(t, withClaims(good(), "sub", secretID), nil), ""},
		{"iss and sub of another client", k.sign(t, withClaims(good(), "iss", secretID, "sub", secretID), nil), ""},
		{"wrong aud", k.sign(t, withClaims(good(), "aud", "https://elsewhere.example/token"), nil), ""},
		{"no aud", k.sign(t, withClaims(good(), "aud", nil), nil), ""},
		{"expired", k.sign(t, withClaims(good(), "exp", now.Add(-time.Minute).Unix(), "iat", now.Add(-2*time.Minute).Unix()), nil), ""},
		{"no exp", k.sign(t, withClaims(good(), "exp", nil), nil), ""},
		{"exp too far ahead", k.sign(t, withClaims(good(), "exp", now.Add(10*time.Minute).Unix(), "iat", nil), nil), ""},
		{"exp too far after iat", k.sign(t, withClaims(good(), "exp", now.Add(4*time.Minute).Unix(), "iat", now.Add(-2*time.Minute).Unix()), nil), ""},
		{"nbf ahead", k.sign(t, withClaims(good(), "nbf", now.Add(2*time.Minute).Unix()), nil), ""},
		{"no jti", k.sign(t, withClaims(good(), "jti", nil), nil), ""},
		{"another key", other.sign(t, good(), nil), ""},
		{"unknown kid", newAssertionKey(t, "k2").sign(t, good(), nil), ""},
		{"HS256", hs.sign(t, good(), nil), ""},
		{"EdDSA for an EC key", ed.sign(t, good(), nil), ""},
		{"alg none", noneToken(), ""},
		{"typ at+jwt", k.sign(t, good(), map[jose.HeaderKey]any{"typ": "at+jwt"}), ""},
		{"client_id differs", k.sign(t, good(), nil), "client_id=" + secretID},
		{"not a JWT", "not-a-jwt", ""},
		{"wrong assertion type", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if tt.name == "wrong assertion type" {
				r = h.post(PathToken, "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer&client_assertion="+url.QueryEscape(k.sign(t, good(), nil)), nil)
			} else {
				r = h.assertionToken(tt.assertion, tt.extra)
			}
			wantError(t, r, http.StatusUnauthorized, "invalid_client")
			if r.json["error_description"] != "client authentication failed" {
				t.Errorf("error_description: got %v, want the same as for a wrong secret", r.json["error_description"])
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		a := k.sign(t, good(), nil)
		if r := h.assertionToken(a, ""); r.status != http.StatusOK {
			t.Fatalf("first use: got %d %s", r.status, r.body)
		}
		wantError(t, h.assertionToken(a, ""), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("aud issuer, array, client_id matching", func(t *testing.T) {
		a := k.sign(t, withClaims(good(), "aud", []string{"https://other.example", "http://issuer.test"}), nil)
		if r := h.assertionToken(a, "client_id="+id); r.status != http.StatusOK {
			t.Fatalf("got %d %s, want a token", r.status, r.body)
		}
		a = k.sign(t, withClaims(good(), "aud", "http://issuer.test/oauth/v2/token"), nil)
		if r := h.assertionToken(a, ""); r.status != http.StatusOK {
			t.Fatalf("aud the alias token path: got %d %s, want a token", r.status, r.body)
		}
	})
	t.Run("with a secret too", func(t *testing.T) {
		r := h.post(PathToken, "grant_type=client_credentials&"+assertionBody(k.sign(t, good(), nil)), map[string]string{"Authorization": basic(secretID, secret)})
		wantError(t, r, http.StatusBadRequest, "invalid_request")
		r = h.assertionToken(k.sign(t, good(), nil), "client_secret="+url.QueryEscape(secret))
		wantError(t, r, http.StatusBadRequest, "invalid_request")
		r = h.post(PathToken, "grant_type=client_credentials&client_assertion="+url.QueryEscape(k.sign(t, good(), nil)), nil)
		wantError(t, r, http.StatusBadRequest, "invalid_request")
	})
	t.Run("a secret client cannot use an assertion", func(t *testing.T) {
		a := k.sign(t, withClaims(good(), "iss", secretID, "sub", secretID), nil)
		wantError(t, h.assertionToken(a, ""), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("disabled", func(t *testing.T) {
		disabled := true
		if _, err := h.svc.Update(t.Context(), "test", id, clients.Patch{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		h.srv.clients.invalidate(id)
		wantError(t, h.assertionToken(k.sign(t, good(), nil), ""), http.StatusUnauthorized, "invalid_client")
	})
	if m := h.metrics(); !strings.Contains(m, `gatehouse_client_auth_failures_total{reason="replay"} 1`) {
		t.Errorf("metrics: no replay failure counted")
	}
}

// Failed assertions count against the client like wrong secrets.
func TestClientAssertionRateLimited(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) { o.FailureBurst = 3 }})
	k := newAssertionKey(t, "k1")
	id, _ := h.client(clients.Spec{TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKS: jwksDoc(t, k)})
	bad := newAssertionKey(t, "k1")
	var last response
	for range 5 {
		last = h.assertionToken(bad.sign(t, assertionClaims(id, "http://issuer.test", h.clock.Now(), newJTI()), nil), "")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: got %d %s, want 429 with Retry-After", last.status, last.body)
	}
}

func TestClientAssertionIntrospectRevoke(t *testing.T) {
	h := newHarness(t)
	k := newAssertionKey(t, "k1")
	id, _ := h.client(clients.Spec{TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKS: jwksDoc(t, k)})
	now := h.clock.Now()
	sign := func(aud string) string { return k.sign(t, assertionClaims(id, aud, now, newJTI()), nil) }

	r := h.assertionToken(sign("http://issuer.test"+PathToken), "")
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	tok := r.json["access_token"].(string)
	for _, aud := range []string{"http://issuer.test" + PathIntrospect, "http://issuer.test" + PathToken, "http://issuer.test"} {
		r = h.post(PathIntrospect, "token="+tok+"&"+assertionBody(sign(aud)), nil)
		if r.status != http.StatusOK || r.json["active"] != true {
			t.Fatalf("introspect with aud %s: got %d %s, want active", aud, r.status, r.body)
		}
	}
	a := sign("http://issuer.test" + PathIntrospect)
	h.post(PathIntrospect, "token="+tok+"&"+assertionBody(a), nil)
	wantError(t, h.post(PathIntrospect, "token="+tok+"&"+assertionBody(a), nil), http.StatusUnauthorized, "invalid_client")
	wantError(t, h.post(PathRevoke, "token="+tok+"&"+assertionBody(k.sign(t, assertionClaims(id, "https://elsewhere", now, newJTI()), nil)), nil), http.StatusUnauthorized, "invalid_client")

	r = h.post(PathRevoke, "token="+tok+"&"+assertionBody(sign("http://issuer.test"+PathRevoke)), nil)
	if r.status != http.StatusOK {
		t.Fatalf("revoke: got %d %s", r.status, r.body)
	}
	r = h.post(PathIntrospect, "token="+tok+"&"+assertionBody(sign("http://issuer.test")), nil)
	if r.status != http.StatusOK || r.json["active"] != false {
		t.Fatalf("introspect after revoke: got %d %s, want inactive", r.status, r.body)
	}
}

func TestClientAssertionJWKSURI(t *testing.T) {
	k1, k2 := newAssertionKey(t, "k1"), newAssertionKey(t, "k2")
	var (
		mu      sync.Mutex
		doc     = jwksDoc(t, k1)
		fetches int
	)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	}))
	t.Cleanup(jwksSrv.Close)
	// The JWKS server is on 127.0.0.1 over http: allowed only for tests.
	h := newHarness(t, harnessOpts{opts: func(o *Options) { o.Fetch.AllowLoopback = true }})
	id, _ := h.client(clients.Spec{TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKSURI: jwksSrv.URL + "/jwks.json"})
	tokenURL := "http://issuer.test" + PathToken
	get := func(k *assertionKey) response {
		return h.assertionToken(k.sign(t, assertionClaims(id, tokenURL, h.clock.Now(), newJTI()), nil), "")
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return fetches }

	if r := get(k1); r.status != http.StatusOK {
		t.Fatalf("k1: got %d %s, want a token", r.status, r.body)
	}
	if r := get(k1); r.status != http.StatusOK || count() != 1 {
		t.Fatalf("k1 again: got %d, %d fetches; want a token from the cached JWKS", r.status, count())
	}
	// The client rotates to k2. Within the refetch interval of the first
	// fetch the JWKS is not fetched again.
	mu.Lock()
	doc = jwksDoc(t, k2)
	mu.Unlock()
	wantError(t, get(k2), http.StatusUnauthorized, "invalid_client")
	if count() != 1 {
		t.Errorf("fetches within the refetch interval: got %d, want 1", count())
	}
	h.clock.Add(jwksRefetch + time.Second)
	if r := get(k2); r.status != http.StatusOK || count() != 2 {
		t.Fatalf("k2 after the interval: got %d %s, %d fetches; want a token after a refetch", r.status, r.body, count())
	}
	// An unknown kid refetches at most once per interval.
	for range 3 {
		wantError(t, get(newAssertionKey(t, "k3")), http.StatusUnauthorized, "invalid_client")
	}
	if count() != 2 {
		t.Errorf("fetches for unknown kids within the interval: got %d, want 2", count())
	}
	// After the TTL the JWKS is fetched again, and k1 is gone.
	h.clock.Add(jwksTTL)
	wantError(t, get(k1), http.StatusUnauthorized, "invalid_client")
	if count() != 3 {
		t.Errorf("fetches after the TTL: got %d, want 3", count())
	}
}

func TestJWKSCacheRefusesRedirectsAndLargeDocuments(t *testing.T) {
	big := `{"keys":[` + strings.Repeat(" ", clients.MaxJWKSSize) + `]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/jwks", http.StatusFound)
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(big))
		case "/jwks":
			w.Header().Set("Content-Type", "application/jwk-set+json")
			w.Write([]byte(jwksDoc(t, newAssertionKey(t, "k"))))
		case "/text":
			w.Write([]byte(jwksDoc(t, newAssertionKey(t, "k"))))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c := newJWKSCache(safefetch.New(safefetch.Options{AllowLoopback: true}))
	now := time.Now()
	if _, err := c.get(t.Context(), srv.URL+"/jwks", false, now); err != nil {
		t.Fatalf("/jwks: %v", err)
	}
	for _, p := range []string{"/redirect", "/big", "/missing", "/text"} {
		if keys, err := c.get(t.Context(), srv.URL+p, false, now); err == nil {
			t.Errorf("%s: got %d keys, want an error", p, len(keys))
		}
	}
}

// A JWKS URI is fetched through safefetch: one on a loopback (or other
// private) address is refused unless the fetch options allow it.
func TestClientAssertionJWKSURIPrivateAddressRefused(t *testing.T) {
	k := newAssertionKey(t, "k1")
	var fetched atomic.Int32
	jwksSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(jwksDoc(t, k)))
	}))
	t.Cleanup(jwksSrv.Close)
	tlsConf := jwksSrv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, allow := range []bool{false, true} {
		h := newHarness(t, harnessOpts{opts: func(o *Options) { o.Fetch = safefetch.Options{TLSConfig: tlsConf, AllowLoopback: allow} }})
		id, _ := h.client(clients.Spec{TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKSURI: jwksSrv.URL + "/jwks.json"})
		r := h.assertionToken(k.sign(t, assertionClaims(id, "http://issuer.test"+PathToken, h.clock.Now(), newJTI()), nil), "")
		if allow {
			if r.status != http.StatusOK {
				t.Errorf("loopback allowed: got %d %s, want a token", r.status, r.body)
			}
			continue
		}
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
		if n := fetched.Load(); n != 0 {
			t.Errorf("loopback refused: the JWKS server was called %d times, want 0", n)
		}
	}
}
