package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// cutStore is a store whose change feed can be made unreadable, as for a
// node cut off from the database, and that counts client loads.
type cutStore struct {
	store.Store
	cut   atomic.Bool
	loads atomic.Int64
}

func (s *cutStore) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	if s.cut.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.Changes(ctx, since)
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
	req, _ := http.NewRequest("GET", h.http.URL+"/metrics", nil)
	if body := h.do(req).body; !strings.Contains(body, "gatehouse_cache_staleness_seconds 6\n") {
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
