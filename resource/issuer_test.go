package resource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
)

// b64 is the base64url of JWS (RFC 7515 §2), for building tokens.
var b64 = base64.RawURLEncoding.Strict()

// This file is a fake authorization server for the tests: RFC 8414
// metadata, a JWKS from a real token.Keyring (plus keys a test controls, to
// sign tokens the keyring never would), and a revocation feed.

// keyStore is an in-memory token.KeyStore.
type keyStore struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

var _ token.KeyStore = (*keyStore)(nil)

func (s *keyStore) ListSigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.keys), nil
}

func (s *keyStore) UpdateSigningKeys(_ context.Context, fn func([]store.SigningKey) ([]store.SigningKey, []string, error), _ store.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	add, remove, err := fn(slices.Clone(s.keys))
	if err != nil {
		return err
	}
	keys := slices.DeleteFunc(slices.Clone(s.keys), func(k store.SigningKey) bool { return slices.Contains(remove, k.ID) })
	s.keys = append(keys, add...)
	return nil
}

// testKey is a signing key the test holds, published in the JWKS while
// listed in issuer.extra.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func newECKey(t testing.TB, kid string) *testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: ES256, priv: k}
}

func (k *testKey) jwk(t testing.TB) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// revocation is an entry of the feed: {jti, exp}, or a client's
// {client_id, iat_before, exp}.
type revocation struct {
	JTI       string `json:"jti,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	IATBefore int64  `json:"iat_before,omitempty"`
	Exp       int64  `json:"exp"`
}

type issuer struct {
	t     testing.TB
	srv   *httptest.Server
	clock *testutil.Clock
	ring  *token.Keyring

	mu          sync.Mutex
	extra       []*testKey
	jwksDown    bool
	jwksGate    chan struct{} // if set, JWKS requests wait until it is closed
	metaDown    bool
	noFeed      bool
	feedClient  string // "id:secret" required by the feed, if set
	revoked     []revocation
	jwksFetches atomic.Int32
	notModified atomic.Int32 // JWKS fetches answered 304
	metaFetches atomic.Int32
	feedFetches atomic.Int32
}

const (
	testAudience = "https://api.example.com"
	testSecret   = "resource-tests-master-secret-0123456789"
	feedPageSize = 2
)

func newIssuer(t testing.TB) *issuer { t.Helper(); return newIssuerAlg(t, token.ES256) }

// newIssuerAlg is an issuer whose keyring signs with alg.
func newIssuerAlg(t testing.TB, alg string) *issuer {
	t.Helper()
	return newIssuerKeys(t, token.Config{Algorithm: alg})
}

// newIssuerKeys is an issuer whose keyring has cfg, with the issuer's
// master key and clock.
func newIssuerKeys(t testing.TB, cfg token.Config) *issuer {
	t.Helper()
	iss := &issuer{t: t, clock: testutil.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))}
	mk, _, err := token.MasterKey(testSecret, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.MasterKey, cfg.Now = mk, iss.clock.Now
	iss.ring, err = token.NewKeyring(&keyStore{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.ring.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", iss.metadata)
	mux.HandleFunc("GET /jwks", iss.jwks)
	mux.HandleFunc("GET /oauth/revocations", iss.feed)
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *issuer) URL() string { return iss.srv.URL }

func (iss *issuer) metadata(w http.ResponseWriter, r *http.Request) {
	iss.metaFetches.Add(1)
	iss.mu.Lock()
	down, noFeed := iss.metaDown, iss.noFeed
	iss.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	md := map[string]any{"issuer": iss.URL(), "jwks_uri": iss.URL() + "/jwks"}
	if !noFeed {
		md["revocation_feed_endpoint"] = iss.URL() + "/oauth/revocations"
	}
	writeJSON(w, md)
}

func (iss *issuer) jwks(w http.ResponseWriter, r *http.Request) {
	iss.jwksFetches.Add(1)
	iss.mu.Lock()
	down, extra, gate := iss.jwksDown, slices.Clone(iss.extra), iss.jwksGate
	iss.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(iss.ring.JWKS(), &set); err != nil {
		iss.t.Error(err)
	}
	for _, k := range extra {
		set.Keys = append(set.Keys, k.jwk(iss.t))
	}
	body, err := json.Marshal(set)
	if err != nil {
		iss.t.Error(err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + b64.EncodeToString(sum[:9]) + `"`
	// As the server does: max-age=300 with the default lead time.
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(iss.ring.JWKSCacheSeconds()))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		iss.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// feed serves the revocation feed; the cursor is an index into revoked.
func (iss *issuer) feed(w http.ResponseWriter, r *http.Request) {
	iss.feedFetches.Add(1)
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if iss.feedClient != "" {
		// Form-decoded inside Basic, as RFC 6749 §2.3.1 says.
		id, secret, ok := r.BasicAuth()
		id, err1 := url.QueryUnescape(id)
		secret, err2 := url.QueryUnescape(secret)
		if !ok || err1 != nil || err2 != nil || id+":"+secret != iss.feedClient {
			w.WriteHeader(http.StatusUnauthorized)
			writeJSON(w, map[string]string{"error": "invalid_client"})
			return
		}
	}
	from := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > len(iss.revoked) {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_request"})
			return
		}
		from = n
	}
	to := min(from+feedPageSize, len(iss.revoked))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, map[string]any{
		"revoked": append([]revocation{}, iss.revoked[from:to]...),
		"cursor":  strconv.Itoa(to),
		"more":    to < len(iss.revoked),
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (iss *issuer) revoke(jti string, exp time.Time) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.revoked = append(iss.revoked, revocation{JTI: jti, Exp: exp.Unix()})
}

// revokeClient revokes the client's tokens whose iat is before iatBefore
// (Unix seconds), until exp.
func (iss *issuer) revokeClient(clientID string, iatBefore int64, exp time.Time) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.revoked = append(iss.revoked, revocation{ClientID: clientID, IATBefore: iatBefore, Exp: exp.Unix()})
}

func (iss *issuer) set(f func(iss *issuer)) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	f(iss)
}

var jtiCounter atomic.Int64

func newJTI() string { return "jti-" + strconv.FormatInt(jtiCounter.Add(1), 10) }

// claims returns the claims of a fresh valid token with the given scope.
func (iss *issuer) claims(scope string) token.Claims {
	now := iss.clock.Now()
	return token.Claims{
		Issuer:    iss.URL(),
		Subject:   "client-1",
		Audience:  testAudience,
		ClientID:  "client-1",
		Scope:     scope,
		JTI:       newJTI(),
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: now.Add(time.Hour),
	}
}

// mint signs c with the keyring, as the authorization server does.
func (iss *issuer) mint(c token.Claims) string {
	iss.t.Helper()
	tok, err := iss.ring.Sign(&c)
	if err != nil {
		iss.t.Fatal(err)
	}
	return tok
}

// token is a valid token with the given scope.
func (iss *issuer) token(scope string) string { return iss.mint(iss.claims(scope)) }

// wireClaims is the JSON claims set of c, for signRaw.
func wireOf(c token.Claims) map[string]any {
	m := map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience, "exp": c.ExpiresAt.Unix(),
		"iat": c.IssuedAt.Unix(), "nbf": c.NotBefore.Unix(), "jti": c.JTI, "client_id": c.ClientID, "scope": c.Scope,
	}
	if c.AccountID != "" {
		m["account_id"] = c.AccountID
	}
	return m
}

// signRaw signs any header and claims with an ES256 test key.
func signRaw(t testing.TB, k *testKey, header, claims any) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv.(*ecdsa.PrivateKey), d[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig[:])
}

// ecHeader is a standard access-token header for a test key.
func ecHeader(k *testKey) map[string]any {
	return map[string]any{"alg": ES256, "typ": "at+jwt", "kid": k.kid}
}

// env is a Guard in front of a handler that reports what it saw.
type env struct {
	t       *testing.T
	iss     *issuer
	guard   *Guard
	handler http.Handler
	logs    *testutil.SyncBuffer
	mu      sync.Mutex
	reasons []string  // from Observe: "" when allowed
	claims  []*Claims // as the handler saw them
}

// seen is what the protected handler reports.
type seen struct {
	Claims  *Claims `json:"claims"`
	Account string  `json:"account"`
	Path    string  `json:"path"`
}

func newEnv(t *testing.T, iss *issuer, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, iss: iss, logs: &testutil.SyncBuffer{}}
	cfg := Config{
		Issuer:         iss.URL(),
		Audience:       testAudience,
		RevocationPoll: -1,
		Now:            iss.clock.Now,
		Logger:         slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: func(allowed bool, reason string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if allowed != (reason == "") {
				t.Errorf("Observe(%v, %q): allowed and reason disagree", allowed, reason)
			}
			e.reasons = append(e.reasons, reason)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(g.Close)
	e.guard = g
	acct := cfg.AccountHeader
	if acct == "" {
		acct = DefaultAccountHeader
	}
	e.handler = g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok {
			t.Error("handler called without claims")
		}
		e.mu.Lock()
		e.claims = append(e.claims, c)
		e.mu.Unlock()
		writeJSON(w, seen{Claims: c, Account: r.Header.Get(acct), Path: r.URL.Path})
	}))
	return e
}

// do sends method path with the token (none if "") and returns the response.
func (e *env) do(method, path, tok string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

func (e *env) lastReason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.reasons) == 0 {
		return "<none>"
	}
	return e.reasons[len(e.reasons)-1]
}

// errorBody is the JSON body of a refusal.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	return b
}

func decodeSeen(t *testing.T, w *httptest.ResponseRecorder) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatalf("body %q is not JSON: %v", w.Body, err)
	}
	return s
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
