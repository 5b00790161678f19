package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/scope"
)

// revStore is a store whose revocation reads can be cut (as for a node cut
// off from the database) and that counts the revocation checks it answers.
type revStore struct {
	store.Store
	cut    atomic.Bool  // ListRevocations fails
	down   atomic.Bool  // IsTokenRevoked fails: the database is unreachable
	checks atomic.Int64 // IsTokenRevoked calls
}

func (s *revStore) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	if s.cut.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.ListRevocations(ctx, since, now, limit)
}

func (s *revStore) IsTokenRevoked(ctx context.Context, jti, clientID string, issuedAt time.Time) (bool, error) {
	s.checks.Add(1)
	if s.down.Load() {
		return false, fmt.Errorf("check token revocation: %w", store.ErrUnavailable)
	}
	return s.Store.IsTokenRevoked(ctx, jti, clientID, issuedAt)
}

// notifyingRevStore is a revStore on a store that pushes change
// notifications (PostgreSQL), passing them on.
type notifyingRevStore struct {
	*revStore
	w changeWatcher
}

func (s notifyingRevStore) WatchChanges(ctx context.Context, notify func()) error {
	return s.w.WatchChanges(ctx, notify)
}

// withStaleness bounds the caches' staleness, which lets introspection
// answer revocation checks from memory.
func withStaleness(o *Options) { o.MaxStaleness = 5 * time.Second }

// nodeWith is a second server on st, as another process would run it, with
// MaxStaleness set and its own client cache, revocation set and verified
// tokens; it follows the store only when the test calls follow.
func (h *harness) nodeWith(st store.Store) *harness {
	h.t.Helper()
	srv, err := New(Options{
		Store: st, Keys: h.keys, Catalog: scope.Default(), Registry: prometheus.NewRegistry(),
		Issuer: "http://issuer.test", Audience: "https://api.test", Now: h.clock.Now, Rand: rand.Reader,
		DefaultTTL: time.Hour, MaxTTL: 30 * 24 * time.Hour, MaxStaleness: 5 * time.Second,
		RefreshIdleTTL: 14 * 24 * time.Hour, RefreshAbsoluteTTL: 90 * 24 * time.Hour,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	n := *h
	n.srv = srv
	n.http = httptest.NewServer(srv.Handler())
	h.t.Cleanup(n.http.Close)
	return &n
}

// introspector is a resource server's client on h, and a function that
// introspects a token as it.
func (h *harness) introspector() func(tok string) response {
	h.t.Helper()
	id, secret := h.client(clients.Spec{Name: "resource server"})
	return func(tok string) response {
		h.t.Helper()
		return h.post(PathIntrospect, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)})
	}
}

func wantActive(t *testing.T, what string, r response, active bool) {
	t.Helper()
	if r.status != 200 || r.json["active"] != active {
		t.Fatalf("%s: got %d %s, want 200 with active %v", what, r.status, r.body, active)
	}
}

// TestIntrospectFromMemory: once the revocation set is loaded, introspection
// of a fresh or a repeated token asks the store nothing about revocations,
// and a token revoked at this node's revocation endpoint is inactive at once
// (before the next read of the store), repeated or not.
func TestIntrospectFromMemory(t *testing.T) {
	var rs *revStore
	h := newHarness(t, harnessOpts{func(o *Options) {
		rs = &revStore{Store: o.Store}
		o.Store = rs
		withStaleness(o)
	}})
	id, secret := h.client(clients.Spec{})
	introspect := h.introspector()
	var f feed
	h.srv.follow(context.Background(), &f)

	tok := h.token(id, secret, "").json["access_token"].(string)
	other := h.token(id, secret, "").json["access_token"].(string)
	for i := range 3 {
		wantActive(t, fmt.Sprintf("introspection %d", i+1), introspect(tok), true)
	}
	if n := rs.checks.Load(); n != 0 {
		t.Errorf("revocation checks in the store for a fresh and a repeated token: got %d, want 0", n)
	}

	if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke: got %d %s", r.status, r.body)
	}
	wantActive(t, "the revoked token, at once, cached", introspect(tok), false)
	wantActive(t, "another token of the client", introspect(other), true)
	if n := rs.checks.Load(); n != 0 {
		t.Errorf("revocation checks in the store: got %d, want 0", n)
	}
	body := h.metrics()
	for _, want := range []string{"gatehouse_revocations_in_memory 1\n", "gatehouse_introspection_cached_tokens 2\n",
		fmt.Sprintf("gatehouse_revocations_last_read_timestamp_seconds %g\n", float64(h.clock.Now().Unix()))} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(body, "gatehouse_"))
		}
	}
}

// TestRevocationInProcessAtOnce: every token of a client revoked through
// the client service in the server's own process (as the admin API and
// the console do) is inactive at introspection by the time the call
// returns, without a read of the store (poll interval an hour).
func TestRevocationInProcessAtOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) {
		withStaleness(o)
		o.PollInterval = time.Hour
	}})
	id, secret := h.client(clients.Spec{})
	introspect := h.introspector()
	h.run()
	eventually(t, func() bool { return h.srv.revoked.fresh(h.clock.Now(), 5*time.Second) })
	tok := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "a token", introspect(tok), true)
	if _, err := h.svc.RevokeTokens(context.Background(), "test", id); err != nil {
		t.Fatal(err)
	}
	wantActive(t, "the token, at once after its client's tokens were revoked", introspect(tok), false)
}

// TestIntrospectCacheNeverServesStale: a token introspected once (so
// cached) is inactive once it expires, once its client is disabled and once
// its client's tokens are revoked.
func TestIntrospectCacheNeverServesStale(t *testing.T) {
	h := newHarness(t, harnessOpts{withStaleness})
	id, secret := h.client(clients.Spec{})
	id2, secret2 := h.client(clients.Spec{})
	introspect := h.introspector()
	ctx := context.Background()
	var f feed
	h.srv.follow(ctx, &f)

	expiring := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "a fresh token", introspect(expiring), true)
	h.clock.Add(59 * time.Minute)
	h.srv.follow(ctx, &f)
	wantActive(t, "the cached token before its exp", introspect(expiring), true)
	h.clock.Add(time.Minute)
	h.srv.follow(ctx, &f)
	wantActive(t, "the cached token at its exp", introspect(expiring), false)

	tok := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "a token", introspect(tok), true)
	if _, err := h.svc.RevokeTokens(ctx, "test", id); err != nil {
		t.Fatal(err)
	}
	h.srv.follow(ctx, &f)
	wantActive(t, "the cached token after its client's tokens were revoked", introspect(tok), false)
	h.clock.Add(time.Second)
	wantActive(t, "a token issued after the revocation", introspect(h.token(id, secret, "").json["access_token"].(string)), true)

	tok2 := h.token(id2, secret2, "").json["access_token"].(string)
	wantActive(t, "a token", introspect(tok2), true)
	disabled := true
	if _, err := h.svc.Update(ctx, "test", id2, clients.Patch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	h.srv.follow(ctx, &f)
	wantActive(t, "the cached token of a disabled client", introspect(tok2), false)
}

// TestRevocationOnAnotherNode: a revocation made on node a (its endpoint,
// and every token of a client through the client service) is seen by
// node b's introspection as soon as b reads the store, and not before
// (within the bound); revocations made before b started are loaded by its
// first read.
func TestRevocationOnAnotherNode(t *testing.T) {
	h := newHarness(t, harnessOpts{withStaleness})
	id, secret := h.client(clients.Spec{})
	early := h.token(id, secret, "").json["access_token"].(string)
	if r := h.post(PathRevoke, "token="+url.QueryEscape(early), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke: got %d %s", r.status, r.body)
	}

	rs := &revStore{Store: h.st}
	b := h.nodeWith(rs)
	introspect := b.introspector()
	ctx := context.Background()
	var f feed
	b.srv.follow(ctx, &f)
	wantActive(t, "node b, a token revoked before it started", introspect(early), false)

	tok := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "node b, a token", introspect(tok), true)
	if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke on node a: got %d %s", r.status, r.body)
	}
	b.srv.follow(ctx, &f)
	wantActive(t, "node b, after reading the store, a token revoked on node a", introspect(tok), false)

	tok2 := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "node b, a token", introspect(tok2), true)
	if _, err := h.svc.RevokeTokens(ctx, "test", id); err != nil {
		t.Fatal(err)
	}
	b.srv.follow(ctx, &f)
	wantActive(t, "node b, a token of a client whose tokens were revoked", introspect(tok2), false)
	if n := rs.checks.Load(); n != 0 {
		t.Errorf("node b's revocation checks in the store: got %d, want 0", n)
	}
}

// TestRevocationSetStale: once node b's revocation set has gone longer
// than MaxStaleness without a successful read of the store, its
// revocation checks go to the store (so a revocation made elsewhere
// meanwhile is seen), and with the store unreachable too introspection
// answers 503 rather than from the old set; once reads succeed again, the
// set answers.
func TestRevocationSetStale(t *testing.T) {
	h := newHarness(t)
	rs := &revStore{Store: h.st}
	b := h.nodeWith(rs)
	introspect := b.introspector()
	id, secret := h.client(clients.Spec{})
	ctx := context.Background()
	var f feed
	b.srv.follow(ctx, &f)
	tok := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "a token", introspect(tok), true)

	rs.cut.Store(true)
	if err := h.st.RevokeToken(ctx, claims(t, tok)["jti"].(string), h.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(6 * time.Second)
	b.srv.follow(ctx, &f) // the change feed is read, the revocations are not
	wantActive(t, "6s into the cut (max staleness 5s), a token revoked meanwhile", introspect(tok), false)
	if rs.checks.Load() == 0 {
		t.Error("no revocation check in the store once the set was stale")
	}

	rs.down.Store(true)
	r := introspect(tok)
	if r.status != 503 || r.json["error"] != "temporarily_unavailable" {
		t.Errorf("the set stale and the store unreachable: got %d %s, want 503 temporarily_unavailable", r.status, r.body)
	}

	rs.cut.Store(false)
	b.srv.follow(ctx, &f)
	wantActive(t, "the store readable again (the revocation check unreachable)", introspect(tok), false)
	wantActive(t, "another token", introspect(h.token(id, secret, "").json["access_token"].(string)), true)
}

// TestRevocationSetUnusedWithoutBound: with MaxStaleness 0 (no bound), the
// revocation set is never trusted: every check asks the store, as before
// the set existed.
func TestRevocationSetUnusedWithoutBound(t *testing.T) {
	var rs *revStore
	h := newHarness(t, harnessOpts{func(o *Options) {
		rs = &revStore{Store: o.Store}
		o.Store = rs
	}})
	id, secret := h.client(clients.Spec{})
	introspect := h.introspector()
	var f feed
	h.srv.follow(context.Background(), &f)
	tok := h.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "a token", introspect(tok), true)
	if rs.checks.Load() != 1 {
		t.Errorf("revocation checks in the store: got %d, want 1", rs.checks.Load())
	}
}

// TestVerifiedTokensClearedOnKeyChange: a change of the signing keys
// empties the introspection cache, so that tokens are verified again
// against the keys as they now are.
func TestVerifiedTokensClearedOnKeyChange(t *testing.T) {
	h := newHarness(t, harnessOpts{withStaleness})
	id, secret := h.client(clients.Spec{})
	introspect := h.introspector()
	ctx := context.Background()
	var f feed
	h.srv.follow(ctx, &f)
	wantActive(t, "a token", introspect(h.token(id, secret, "").json["access_token"].(string)), true)
	if n := h.srv.verified.Len(); n != 1 {
		t.Fatalf("cached tokens: got %d, want 1", n)
	}
	if _, err := h.keys.Rotate(ctx, "test", false); err != nil {
		t.Fatal(err)
	}
	h.srv.follow(ctx, &f)
	if n := h.srv.verified.Len(); n != 0 {
		t.Errorf("cached tokens after a key change: got %d, want 0", n)
	}
}

// TestRevokedSetPrune: entries are dropped once the tokens they cover have
// expired, so the set holds no more than the unexpired revocations; a
// client's entry revokes tokens issued up to and in its second.
func TestRevokedSetPrune(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := newRevokedSet()
	for i := range 1000 {
		r.addToken(fmt.Sprintf("jti-%d", i), now.Add(time.Duration(i)*time.Second))
	}
	at := now.Add(500*time.Millisecond + 10*time.Second)
	r.add([]store.Revocation{{ClientID: "c", IssuedBefore: at, ExpiresAt: now.Add(time.Hour)}})
	r.add([]store.Revocation{{ClientID: "gone", IssuedBefore: at, ExpiresAt: now.Add(time.Minute)}})
	for _, tc := range []struct {
		jti, client string
		iat         time.Time
		want        bool
	}{
		{"jti-7", "x", now, true},
		{"jti-x", "c", now.Add(10 * time.Second), true}, // in the revocation's second
		{"jti-x", "c", now.Add(11 * time.Second), false},
		{"jti-x", "d", now, false},
	} {
		if got := r.Revoked(tc.jti, tc.client, tc.iat); got != tc.want {
			t.Errorf("Revoked(%q, %q, %v): got %v, want %v", tc.jti, tc.client, tc.iat, got, tc.want)
		}
	}

	r.prune(now.Add(899 * time.Second))
	if got, want := r.size(), 101+1; got != want { // jti-899..jti-999, and c
		t.Errorf("entries after prune: got %d, want %d", got, want)
	}
	if r.Revoked("jti-5", "x", now) {
		t.Error("an expired entry was kept")
	}
	if !r.Revoked("jti-999", "x", now) || !r.Revoked("jti-x", "c", now) {
		t.Error("an unexpired entry was dropped")
	}
	r.prune(now.Add(2 * time.Hour))
	if got := r.size(); got != 0 {
		t.Errorf("entries once everything expired: got %d, want 0", got)
	}
}

// TestRevocationAcrossPostgresNodes: two servers on one PostgreSQL store,
// each following it on its own (poll interval an hour, so only the store's
// notifications wake them): a token revoked at node a's endpoint, and
// every token of a client revoked through the client service, are seen by
// node b's introspection without a poll. Runs with
// GATEHOUSE_TEST_DATABASE_URL.
func TestRevocationAcrossPostgresNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	clk := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	master := make([]byte, 32)
	rand.Read(master)
	node := func(wrap func(store.Store) store.Store) *harness {
		return postgresHarness(t, dsn, clk, master, wrap, func(o *Options) {
			o.MaxStaleness, o.PollInterval = 5*time.Second, time.Hour
		})
	}
	rs := &revStore{}
	a := node(func(st store.Store) store.Store { return st })
	b := node(func(st store.Store) store.Store { rs.Store = st; return notifyingRevStore{rs, st.(changeWatcher)} })
	a.run()
	b.run()
	id, secret := a.client(clients.Spec{})
	introspect := b.introspector()
	active := func(tok string) bool { return introspect(tok).json["active"] == true }

	eventually(t, func() bool { return b.srv.revoked.fresh(clk.Now(), 5*time.Second) }) // b has loaded its set
	tok := a.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "node b, a token", introspect(tok), true)
	if r := a.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
		t.Fatalf("revoke on node a: got %d %s", r.status, r.body)
	}
	eventually(t, func() bool { return !active(tok) })

	tok2 := a.token(id, secret, "").json["access_token"].(string)
	wantActive(t, "node b, a token", introspect(tok2), true)
	if _, err := a.svc.RevokeTokens(ctx, "test", id); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return !active(tok2) })
	if n := rs.checks.Load(); n != 0 {
		t.Errorf("node b's revocation checks in the store: got %d, want 0", n)
	}
}

// TestReuseDroppedByInProcessRevocation: the token reuse cache forgets a
// client's tokens as soon as they are revoked through the client service
// in the server's own process (the admin API, the console), not at the
// next read of the store (poll interval an hour).
func TestReuseDroppedByInProcessRevocation(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.Reuse = ReuseOptions{MinRemaining: 50, MaxEntries: 100}
		o.PollInterval = time.Hour
	}})
	id, secret := h.client(clients.Spec{Scopes: []string{"api"}})
	h.run()
	eventually(t, func() bool { return h.srv.revoked.fresh(h.clock.Now(), time.Second) })
	first := accessToken(t, h.token(id, secret, ""))
	if again := accessToken(t, h.token(id, secret, "")); again != first {
		t.Fatal("the reuse window is not on: a second request got a new token")
	}
	if _, err := h.svc.RevokeTokens(context.Background(), "test", id); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Second)
	if again := accessToken(t, h.token(id, secret, "")); again == first {
		t.Error("a token of a client whose tokens were revoked in this process was reused")
	}
}
