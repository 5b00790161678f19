package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// cutStore is a store whose change feed can be made unreadable, as for a
// node cut off from the database, and that counts client loads.
type cutStore struct {
	store.Store
	cut   atomic.Bool
	loads atomic.Int64
}

func (s *cutStore) ChangesAfter(ctx context.Context, after store.Change, limit int) ([]store.Change, error) {
	if s.cut.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.ChangesAfter(ctx, after, limit)
}

func (s *cutStore) LastChange(ctx context.Context) (store.Change, error) {
	if s.cut.Load() {
		return store.Change{}, errors.New("connection refused")
	}
	return s.Store.LastChange(ctx)
}

func (s *cutStore) GetClient(ctx context.Context, id string) (store.Client, error) {
	s.loads.Add(1)
	return s.Store.GetClient(ctx, id)
}

// TestStaleCacheRefused: a node that cannot read the change feed for longer
// than MaxStaleness refuses client authentication (503) rather than accept
// a client that may have been disabled or a secret that may have been
// rotated away meanwhile; it answers again once the feed is readable. It
// used to go on accepting them for as long as the cut lasted.
func TestStaleCacheRefused(t *testing.T) {
	var cs *cutStore
	h := newHarness(t, harnessOpts{func(o *Options) {
		cs = &cutStore{Store: o.Store}
		o.Store = cs
		o.MaxStaleness = 5 * time.Second
	}})
	ctx := context.Background()
	id, secret := h.client(clients.Spec{})
	rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
	var f feed
	h.srv.follow(ctx, &f)
	tok := h.token(id, secret, "")
	if tok.status != 200 {
		t.Fatalf("token before the cut: got %d %s", tok.status, tok.body)
	}
	at := tok.json["access_token"].(string)
	introspect := func() response {
		return h.post(PathIntrospect, "token="+url.QueryEscape(at), map[string]string{"Authorization": basic(rsID, rsSecret)})
	}
	revoke := func() response {
		return h.post(PathRevoke, "token="+url.QueryEscape(at), map[string]string{"Authorization": basic(id, secret)})
	}
	if r := introspect(); r.status != 200 {
		t.Fatalf("introspect before the cut: got %d %s", r.status, r.body)
	}

	cs.cut.Store(true)
	h.clock.Add(4 * time.Second)
	h.srv.follow(ctx, &f) // fails
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatalf("token 4s into the cut (max staleness 5s): got %d %s, want 200", r.status, r.body)
	}
	h.clock.Add(2 * time.Second)
	h.srv.follow(ctx, &f) // fails
	for name, r := range map[string]response{
		"token": h.token(id, secret, ""), "introspect": introspect(), "revoke": revoke(),
	} {
		if r.status != 503 || r.json["error"] != "temporarily_unavailable" {
			t.Errorf("%s 6s into the cut: got %d %s, want 503 temporarily_unavailable", name, r.status, r.body)
		}
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s 6s into the cut: Retry-After %q, want 1", name, got)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s 6s into the cut: Cache-Control %q, want no-store", name, got)
		}
	}
	if body := h.metrics(); !strings.Contains(body, "gatehouse_cache_staleness_seconds 6\n") {
		t.Errorf("metrics lack gatehouse_cache_staleness_seconds 6:\n%s", grepLines(body, "gatehouse_c"))
	}

	cs.cut.Store(false)
	h.srv.follow(ctx, &f)
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Errorf("token once the feed is readable again: got %d %s, want 200", r.status, r.body)
	}
	if r := introspect(); r.status != 200 {
		t.Errorf("introspect once the feed is readable again: got %d %s, want 200", r.status, r.body)
	}
}

// TestStaleCacheNeverRefusedWhenOff: MaxStaleness 0 keeps serving from the
// cache however long the feed is unreadable.
func TestStaleCacheNeverRefusedWhenOff(t *testing.T) {
	var cs *cutStore
	h := newHarness(t, harnessOpts{func(o *Options) {
		cs = &cutStore{Store: o.Store}
		o.Store = cs
	}})
	id, secret := h.client(clients.Spec{})
	var f feed
	h.srv.follow(context.Background(), &f)
	cs.cut.Store(true)
	h.clock.Add(time.Hour)
	h.srv.follow(context.Background(), &f)
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Errorf("token an hour into the cut with MaxStaleness 0: got %d %s, want 200", r.status, r.body)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// watchedStore signals change notifications when the test says so, like
// the PostgreSQL store's LISTEN/NOTIFY.
type watchedStore struct {
	store.Store
	signal    chan struct{}
	failFirst atomic.Bool // the first WatchChanges fails at once
}

func (s *watchedStore) WatchChanges(ctx context.Context, notify func()) error {
	if s.failFirst.CompareAndSwap(true, false) {
		return errors.New("connection reset by peer")
	}
	notify()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.signal:
			notify()
		}
	}
}

// TestNotificationWakesFeed: a change notification from the store makes the
// server read the change feed at once instead of at the next poll, also
// after the listening connection failed once.
func TestNotificationWakesFeed(t *testing.T) {
	ws := &watchedStore{signal: make(chan struct{})}
	ws.failFirst.Store(true)
	h := newHarness(t, harnessOpts{func(o *Options) {
		ws.Store = o.Store
		o.Store = ws
		o.PollInterval = time.Hour
	}})
	id, secret := h.client(clients.Spec{})
	h.run()
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	disabled := true
	if _, err := h.svc.Update(context.Background(), "t", id, clients.Patch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	select {
	case ws.signal <- struct{}{}:
	case <-time.After(5 * time.Second):
		t.Fatal("the server does not listen for change notifications")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.token(id, secret, "")
		if r.status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled client after a change notification: got %d, want 401 (poll interval 1h)", r.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// node is a second server on the harness's store, as another process
// would run it: its own client cache, not following the change feed.
func (h *harness) node(st store.Store) *harness {
	h.t.Helper()
	srv, err := New(Options{
		Store: st, Keys: h.keys, Catalog: scope.Default(),
		Issuer: "http://issuer.test", Audience: "https://api.test", Now: h.clock.Now, Rand: rand.Reader,
		DefaultTTL: time.Hour, MaxTTL: 30 * 24 * time.Hour,
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

// TestNewSecretWorksOnEveryNode: a secret rotated on one node works on
// another at once, before the change feed tells it: a secret its cache does
// not accept is checked against the store. It used to be refused until the
// next feed poll, and the old secret still accepted.
func TestNewSecretWorksOnEveryNode(t *testing.T) {
	h := newHarness(t)
	cs := &cutStore{Store: h.st}
	b := h.node(cs)
	id, old := h.client(clients.Spec{})
	for name, n := range map[string]*harness{"a": h, "b": b} {
		if r := n.token(id, old, ""); r.status != 200 {
			t.Fatalf("node %s, first secret: got %d %s", name, r.status, r.body)
		}
	}
	h.clock.Add(time.Minute)
	_, secret, err := h.svc.RotateSecret(context.Background(), "t", id, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := b.token(id, secret, ""); r.status != 200 {
		t.Errorf("node b, rotated secret at once: got %d %s, want 200", r.status, r.body)
	}
	if r := b.token(id, old, ""); r.status != 401 {
		t.Errorf("node b, secret rotated away with grace 0: got %d %s, want 401", r.status, r.body)
	}

	// Wrong secrets reload the client at most once a second.
	h.clock.Add(time.Minute)
	before := cs.loads.Load()
	for range 20 {
		if r := b.token(id, "wrong", ""); r.status != 401 {
			t.Fatalf("wrong secret: got %d, want 401", r.status)
		}
	}
	if got := cs.loads.Load() - before; got != 1 {
		t.Errorf("20 wrong secrets within a second: %d client loads, want 1", got)
	}
	h.clock.Add(time.Second)
	b.token(id, "wrong", "")
	if got := cs.loads.Load() - before; got != 2 {
		t.Errorf("a wrong secret a second later: %d client loads in all, want 2", got)
	}
}

// TestSecretRecheckSingleFlight: many requests with a secret the cache does
// not know load the client from the store once.
func TestSecretRecheckSingleFlight(t *testing.T) {
	h := newHarness(t)
	cs := &cutStore{Store: h.st}
	b := h.node(cs)
	id, old := h.client(clients.Spec{})
	if r := b.token(id, old, ""); r.status != 200 {
		t.Fatalf("first secret: got %d %s", r.status, r.body)
	}
	h.clock.Add(time.Minute)
	_, secret, err := h.svc.RotateSecret(context.Background(), "t", id, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	before := cs.loads.Load()
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Go(func() { codes[i] = b.token(id, secret, "").status })
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d with the new secret: got %d, want 200", i, c)
		}
	}
	if got := cs.loads.Load() - before; got != 1 {
		t.Errorf("%d concurrent requests with a new secret: %d client loads, want 1", len(codes), got)
	}
}
