package server

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/scope"
)

// reuseHarness is a server with the reuse window on by default at pct and
// the test resources.
func reuseHarness(t *testing.T, pct, entries int) *harness {
	t.Helper()
	rs := testResources(t)
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.Resources = rs
		o.Reuse = ReuseOptions{MinRemaining: pct, MaxEntries: entries}
	}})
	crs := make([]clients.Resource, len(rs))
	for i, r := range rs {
		crs[i] = clients.Resource{ID: r.ID, Catalog: r.Catalog}
	}
	h.svc = clients.NewService(h.st, scope.Default(), 30*24*time.Hour, h.clock.Now, rand.Reader).WithResources(crs)
	h.srv.followRevocations(context.Background())
	return h
}

// revocations is the background loop's read of the store's revocations.
func (h *harness) revocations() { h.srv.followRevocations(context.Background()) }

func accessToken(t *testing.T, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token: got %d %s, want 200", r.status, r.body)
	}
	return r.json["access_token"].(string)
}

// TestReuseWindow: with the window on, the same request gets the same
// token with the remaining expires_in while more than the window's share of
// its lifetime is left; any other scope, account, resource or DPoP key, a
// token below the threshold, a changed client, a revoked token or a client
// that gets refresh tokens gets a new one.
func TestReuseWindow(t *testing.T) {
	h := reuseHarness(t, 50, 100)
	id, secret := h.client(clients.Spec{Scopes: []string{"api", "search", "invoices:read"},
		Accounts: []string{store.AnyAccount}, Resources: []string{billingID}})
	first := h.token(id, secret, "")
	at := accessToken(t, first)
	if first.json["expires_in"] != float64(3600) {
		t.Fatalf("first token: expires_in %v, want 3600", first.json["expires_in"])
	}
	h.clock.Add(10 * time.Minute)
	h.revocations()
	again := h.token(id, secret, "")
	if got := accessToken(t, again); got != at {
		t.Fatalf("same request 10 minutes later: got a new token, want the first one again")
	}
	if again.json["expires_in"] != float64(3000) || again.json["scope"] != first.json["scope"] {
		t.Errorf("reused token: expires_in %v, scope %v; want 3000, %v", again.json["expires_in"], again.json["scope"], first.json["scope"])
	}
	if b := h.metrics(); !strings.Contains(b, "gatehouse_tokens_reused_total 1\n") {
		t.Errorf("metrics lack gatehouse_tokens_reused_total 1:\n%s", grepLines(b, "gatehouse_tokens_"))
	}

	// Each part of the request is part of the key.
	k1, k2 := testutil.NewDPoPKey(t), testutil.NewDPoPKey(t)
	seen := map[string]string{at: "no parameters"}
	for _, tc := range []struct {
		name, extra string
		dpop        *testutil.DPoPKey
	}{
		{"scope", "scope=search", nil},
		{"scope named as the default", "scope=api+search", nil},
		{"account", "scope=api+account:acme", nil},
		{"other account", "scope=api+account:globex", nil},
		{"resource", "resource=" + url.QueryEscape(billingID), nil},
		{"DPoP key", "", k1},
		{"other DPoP key", "", k2},
	} {
		get := func() string {
			if tc.dpop != nil {
				v, _ := url.ParseQuery(tc.extra)
				v.Set("grant_type", "client_credentials")
				return accessToken(t, h.postProofs(PathToken, id, secret, v, h.proof(tc.dpop, PathToken)))
			}
			return accessToken(t, h.token(id, secret, tc.extra))
		}
		tok := get()
		if prev, ok := seen[tok]; ok {
			t.Errorf("%s: got the token of %q, want a new one", tc.name, prev)
		}
		seen[tok] = tc.name
		if again := get(); again != tok {
			t.Errorf("%s asked twice: got a new token, want the same", tc.name)
		}
	}

	// Below the threshold: 50% of the hour is left at 30 minutes.
	h.clock.Add(20 * time.Minute) // 30 minutes after the first
	h.revocations()
	fresh := accessToken(t, h.token(id, secret, ""))
	if fresh == at {
		t.Fatalf("with half the lifetime left (window 50%%): got the old token, want a new one")
	}
	if got := accessToken(t, h.token(id, secret, "")); got != fresh {
		t.Errorf("the new token is not reused")
	}

	// Revoked at this node: at once. Revoked in the store by another node,
	// and all of the client's tokens revoked: from the next read of the
	// store's revocations.
	r := h.post(PathRevoke, "token="+url.QueryEscape(fresh), map[string]string{"Authorization": basic(id, secret)})
	if r.status != http.StatusOK {
		t.Fatalf("revoke: got %d %s", r.status, r.body)
	}
	next := accessToken(t, h.token(id, secret, ""))
	if next == fresh {
		t.Fatalf("after revoking it: got the revoked token again")
	}
	if err := h.st.RevokeToken(context.Background(), jtiOf(t, next), h.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.revocations()
	other := accessToken(t, h.token(id, secret, ""))
	if other == next {
		t.Fatalf("after another node revoked it: got the revoked token again")
	}
	h.clock.Add(time.Second)
	h.revocations()
	if got := accessToken(t, h.token(id, secret, "")); got != other {
		t.Fatalf("before the client's tokens are revoked: got a new token, want the same")
	}
	if err := h.st.RevokeClientTokens(context.Background(), id, h.clock.Now(), h.clock.Now().Add(time.Hour), nil, store.AuditEvent{Time: h.clock.Now(), Actor: "t", Action: "client.revoke_tokens", Target: id}); err != nil {
		t.Fatal(err)
	}
	h.revocations()
	if got := accessToken(t, h.token(id, secret, "")); got == other {
		t.Fatalf("after revoking the client's tokens: got a revoked token again")
	}
}

// TestReuseNeedsRevocations: a node that has not read the store's
// revocations lately signs new tokens rather than hand out one that may
// have been revoked elsewhere.
func TestReuseNeedsRevocations(t *testing.T) {
	var cs *cutRevocations
	h := newHarness(t, harnessOpts{func(o *Options) {
		cs = &cutRevocations{Store: o.Store}
		o.Store = cs
		o.Reuse = ReuseOptions{MinRemaining: 50, MaxEntries: 10}
	}})
	id, secret := h.client(clients.Spec{})
	h.revocations()
	at := accessToken(t, h.token(id, secret, ""))
	if accessToken(t, h.token(id, secret, "")) != at {
		t.Fatalf("revocations just read: got a new token, want the same")
	}
	cs.cut.Store(true)
	h.clock.Add(2 * time.Second)
	h.revocations() // fails
	if accessToken(t, h.token(id, secret, "")) != at {
		t.Fatalf("2s after the last read: got a new token, want the same")
	}
	h.clock.Add(2 * time.Second)
	h.revocations() // fails
	if accessToken(t, h.token(id, secret, "")) == at {
		t.Fatalf("4s after the last read of revocations: got the cached token, want a new one")
	}
}

// cutRevocations is a store whose revocations can be made unreadable.
type cutRevocations struct {
	store.Store
	cut atomic.Bool
}

func (s *cutRevocations) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	if s.cut.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.ListRevocations(ctx, since, now, limit)
}

func jtiOf(t *testing.T, at string) string {
	t.Helper()
	return claims(t, at)["jti"].(string)
}

// TestReuseOff: off by default, off for a client that says so, and never
// for a client that gets refresh tokens with client credentials; a client
// may turn it on when the server's default is off.
func TestReuseOff(t *testing.T) {
	twice := func(h *harness, sp clients.Spec) bool {
		t.Helper()
		id, secret := h.client(sp)
		h.revocations()
		first := accessToken(t, h.token(id, secret, ""))
		return accessToken(t, h.token(id, secret, "")) == first
	}
	off := reuseHarness(t, 0, 100)
	if twice(off, clients.Spec{}) {
		t.Errorf("server default off: got the same token twice")
	}
	if !twice(off, clients.Spec{Name: "own", ReuseMinRemaining: 40}) {
		t.Errorf("client's own window, server default off: got a new token, want the same")
	}
	on := reuseHarness(t, 50, 100)
	if twice(on, clients.Spec{ReuseMinRemaining: store.ReuseOff}) {
		t.Errorf("client turned reuse off: got the same token twice")
	}
	if twice(on, clients.Spec{GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken}, RefreshWithClientCredentials: true}) {
		t.Errorf("client with refresh tokens: got the same token twice")
	}
	if !twice(on, clients.Spec{}) {
		t.Errorf("server default on: got a new token, want the same")
	}
	if none := reuseHarness(t, 50, 0); twice(none, clients.Spec{}) {
		t.Errorf("no cache (max entries 0): got the same token twice")
	}
}

// TestReuseChangedClient: a change to the client (here its scopes, which
// the change feed reports) ends the reuse of its tokens.
func TestReuseChangedClient(t *testing.T) {
	h := reuseHarness(t, 50, 100)
	id, secret := h.client(clients.Spec{Scopes: []string{"api", "search"}})
	var f feed
	h.srv.follow(context.Background(), &f)
	at := accessToken(t, h.token(id, secret, "scope=api"))
	scopes := []string{"api"}
	if _, err := h.svc.Update(context.Background(), "t", id, clients.Patch{Scopes: &scopes}); err != nil {
		t.Fatal(err)
	}
	h.srv.follow(context.Background(), &f)
	if accessToken(t, h.token(id, secret, "scope=api")) == at {
		t.Errorf("after the client changed: got the old token, want a new one")
	}
}

// TestReuseBounded: the cache keeps at most MaxEntries tokens, oldest out.
func TestReuseBounded(t *testing.T) {
	h := reuseHarness(t, 50, 2)
	id, secret := h.client(clients.Spec{Scopes: []string{"api", "search", "profile"}})
	a := accessToken(t, h.token(id, secret, "scope=api"))
	accessToken(t, h.token(id, secret, "scope=search"))
	accessToken(t, h.token(id, secret, "scope=profile")) // pushes out api's
	if accessToken(t, h.token(id, secret, "scope=api")) == a {
		t.Errorf("a third entry in a cache of two: the oldest is still served")
	}
	if n := len(h.srv.reuse.entries); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}
}
