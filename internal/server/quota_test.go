package server

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

// quotaHarness is a server with default quotas, its clock 10 seconds into
// a minute.
func quotaHarness(t *testing.T, q QuotaOptions) *harness {
	t.Helper()
	h := newHarness(t, harnessOpts{func(o *Options) { o.Quota = q }})
	h.clock.Set(h.clock.Now().Truncate(time.Hour).Add(10 * time.Second))
	return h
}

// TestQuotaPerClient: a client over its quota per minute gets 429 slow_down
// with Retry-After until the minute ends, audited once in the minute
// however many requests are refused, and counted in the metrics; the next
// minute it gets tokens again.
func TestQuotaPerClient(t *testing.T) {
	h := quotaHarness(t, QuotaOptions{})
	id, secret := h.client(clients.Spec{QuotaPerMinute: 3})
	other, otherSecret := h.client(clients.Spec{Name: "no quota"})
	for i := range 3 {
		if r := h.token(id, secret, ""); r.status != http.StatusOK {
			t.Fatalf("token %d of 3: got %d %s", i+1, r.status, r.body)
		}
	}
	for range 3 {
		r := h.token(id, secret, "")
		wantError(t, r, http.StatusTooManyRequests, "slow_down")
		if got := r.header.Get("Retry-After"); got != "50" {
			t.Errorf("Retry-After 10s into the minute: got %q, want 50", got)
		}
	}
	for range 5 {
		if r := h.token(other, otherSecret, ""); r.status != http.StatusOK {
			t.Fatalf("client without a quota: got %d %s", r.status, r.body)
		}
	}
	ev, err := h.st.ListAudit(context.Background(), store.AuditFilter{Action: "client.quota_exceeded"})
	if err != nil || len(ev) != 1 || ev[0].Target != id || !strings.Contains(ev[0].Detail, "3 tokens per minute") {
		t.Errorf("audit after 3 refusals: got %+v, %v; want one client.quota_exceeded event", ev, err)
	}
	if b := h.metrics(); !strings.Contains(b, `gatehouse_token_quota_exceeded_total{window="minute"} 3`+"\n") {
		t.Errorf("metrics lack 3 refusals:\n%s", grepLines(b, "gatehouse_token_quota"))
	}
	h.clock.Add(50 * time.Second)
	if r := h.token(id, secret, ""); r.status != http.StatusOK {
		t.Fatalf("the next minute: got %d %s, want 200", r.status, r.body)
	}
	for range 3 {
		h.token(id, secret, "")
	}
	if ev, _ := h.st.ListAudit(context.Background(), store.AuditFilter{Action: "client.quota_exceeded"}); len(ev) != 2 {
		t.Errorf("audit after refusals in a second minute: got %d events, want 2", len(ev))
	}
}

// TestQuotaDefaults: the server's default quota applies to clients that set
// none, a client's own replaces it, QuotaNone lifts it; the hour quota
// counts across minutes.
func TestQuotaDefaults(t *testing.T) {
	h := quotaHarness(t, QuotaOptions{PerMinute: 2, PerHour: 3})
	issued := func(id, secret string, n int) int {
		ok := 0
		for range n {
			if r := h.token(id, secret, ""); r.status == http.StatusOK {
				ok++
			} else if r.status != http.StatusTooManyRequests {
				t.Fatalf("token: got %d %s", r.status, r.body)
			}
		}
		return ok
	}
	def, defSecret := h.client(clients.Spec{Name: "default"})
	own, ownSecret := h.client(clients.Spec{Name: "own", QuotaPerMinute: 4, QuotaPerHour: 100})
	none, noneSecret := h.client(clients.Spec{Name: "none", QuotaPerMinute: store.QuotaNone, QuotaPerHour: store.QuotaNone})
	if got := issued(def, defSecret, 5); got != 2 {
		t.Errorf("default quota 2 a minute: %d of 5 issued", got)
	}
	if got := issued(own, ownSecret, 6); got != 4 {
		t.Errorf("own quota 4 a minute: %d of 6 issued", got)
	}
	if got := issued(none, noneSecret, 10); got != 10 {
		t.Errorf("no quota: %d of 10 issued", got)
	}
	h.clock.Add(time.Minute)
	r := h.token(def, defSecret, "")
	if r.status != http.StatusOK {
		t.Fatalf("third token of the hour: got %d %s", r.status, r.body)
	}
	r = h.token(def, defSecret, "")
	wantError(t, r, http.StatusTooManyRequests, "slow_down")
	if got, _ := strconv.Atoi(r.header.Get("Retry-After")); got != 3600-70 {
		t.Errorf("over the hour quota: Retry-After %d, want %d (the hour's end)", got, 3600-70)
	}
}

// TestQuotaReturnedOnFailure: a request refused after its token was counted
// (here: an unknown refresh token) does not use up the quota.
func TestQuotaReturnedOnFailure(t *testing.T) {
	h := quotaHarness(t, QuotaOptions{})
	id, secret := h.client(clients.Spec{QuotaPerMinute: 1,
		GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken}})
	for range 3 {
		r := h.post(PathToken, "grant_type=refresh_token&refresh_token=ghr_unknown", map[string]string{"Authorization": basic(id, secret)})
		wantError(t, r, http.StatusBadRequest, "invalid_grant")
	}
	if r := h.token(id, secret, ""); r.status != http.StatusOK {
		t.Fatalf("after failed requests: got %d %s, want 200", r.status, r.body)
	}
}

// TestQuotaReuseNotCounted: tokens handed out again by the reuse window are
// not issued, so they do not count against the quota.
func TestQuotaReuseNotCounted(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) { o.Reuse = ReuseOptions{MinRemaining: 50, MaxEntries: 10} }})
	id, secret := h.client(clients.Spec{QuotaPerMinute: 1})
	h.revocations()
	for i := range 5 {
		if r := h.token(id, secret, ""); r.status != http.StatusOK {
			t.Fatalf("request %d, reused token: got %d %s", i+1, r.status, r.body)
		}
	}
}

// quotaNode is a server of its own on st, with the harness's keys and
// clock, named node, as another process would run it.
func quotaNode(t *testing.T, h *harness, st store.Store, node string) *harness {
	t.Helper()
	srv, err := New(Options{
		Store: st, Keys: h.keys, Catalog: scope.Default(),
		Issuer: "http://issuer.test", Audience: "https://api.test", Now: h.clock.Now, Rand: rand.Reader,
		DefaultTTL: time.Hour, MaxTTL: 30 * 24 * time.Hour,
		RefreshIdleTTL: 14 * 24 * time.Hour, RefreshAbsoluteTTL: 90 * 24 * time.Hour,
		Quota:    QuotaOptions{Node: node},
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := *h
	n.srv = srv
	n.http = httptest.NewServer(srv.Handler())
	t.Cleanup(n.http.Close)
	return &n
}

// drain asks n for tokens until it refuses one and returns how many it
// issued.
func drain(t *testing.T, n *harness, id, secret string) int {
	t.Helper()
	for i := 0; ; i++ {
		r := n.token(id, secret, "")
		switch r.status {
		case http.StatusOK:
			continue
		case http.StatusTooManyRequests:
			return i
		}
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
}

// testQuotaAcrossNodes runs two servers, a on sa and b on sb (one database),
// exchanging their counts in rounds, in step and out of step, and checks
// that together they issue the quota (so a node sees the other's tokens:
// alone each would issue it all) and at most the documented
// quota + quota/10 + 2k.
func testQuotaAcrossNodes(t *testing.T, h *harness, sa, sb store.Store) {
	ctx := context.Background()
	h.clock.Set(h.clock.Now().Truncate(time.Hour).Add(90 * time.Second))
	a, b := quotaNode(t, h, sa, "a"), quotaNode(t, h, sb, "b")
	round := func(ns ...*harness) {
		for _, n := range ns {
			n.srv.syncQuotas(ctx)
		}
	}
	const quota, k = 100, 2
	svc := clients.NewService(sa, scope.Default(), 30*24*time.Hour, h.clock.Now, rand.Reader)
	// A node's first tokens of a window, before it holds a reservation,
	// are a tenth of its share; then it says to retry in a second, and
	// audits nothing: the quota is not used up.
	{
		c, secret, err := svc.Create(ctx, "t", clients.Spec{Name: "first", QuotaPerMinute: quota})
		if err != nil {
			t.Fatal(err)
		}
		round(a, b)
		round(a, b)
		if got := drain(t, a, c.ID, secret); got != quota/k/10 {
			t.Errorf("unreserved tokens: got %d, want %d", got, quota/k/10)
		}
		r := a.token(c.ID, secret, "")
		wantError(t, r, http.StatusTooManyRequests, "slow_down")
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("refused for this node's share: Retry-After %q, want 1", got)
		}
		if evs, _ := sa.ListAudit(ctx, store.AuditFilter{Action: "client.quota_exceeded", Target: c.ID}); len(evs) != 0 {
			t.Errorf("refused for this node's share: got %d audit events, want none", len(evs))
		}
	}
	for _, tc := range []struct {
		name  string
		order func(issue func(*harness))
	}{
		{"in step", func(issue func(*harness)) {
			for range 10 {
				issue(a)
				issue(b)
				round(a, b)
			}
		}},
		{"out of step", func(issue func(*harness)) {
			for range 10 {
				issue(a)
				round(a)
				issue(b)
				issue(a)
				round(b)
			}
		}},
		{"rounds at the same moment", func(issue func(*harness)) {
			for range 10 {
				issue(a)
				issue(b)
				var wg sync.WaitGroup
				for _, n := range []*harness{a, b} {
					wg.Go(func() { n.srv.syncQuotas(ctx) })
				}
				wg.Wait()
			}
		}},
		{"one node busy", func(issue func(*harness)) {
			for range 30 {
				issue(a)
				round(a, b)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, secret, err := svc.Create(ctx, "t", clients.Spec{Name: tc.name, QuotaPerMinute: quota})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Add(time.Minute) // a new window for each case
			round(a, b)
			round(a, b) // both count two nodes
			total := 0
			tc.order(func(n *harness) { total += drain(t, n, c.ID, secret) })
			t.Logf("%s: %d tokens of a quota of %d", tc.name, total, quota)
			if total < quota-k || total > quota+quota/10+2*k {
				t.Errorf("two nodes issued %d tokens in a minute; want the quota %d, at most %d over (quota/10 + 2k, k=%d)", total, quota, quota/10+2*k, k)
			}
			evs, err := sa.ListAudit(ctx, store.AuditFilter{Action: "client.quota_exceeded", Target: c.ID})
			if err != nil || len(evs) < 1 || len(evs) > k {
				t.Errorf("audit: got %d client.quota_exceeded events, %v; want 1 to %d (once per node, only once used up)", len(evs), err, k)
			}
			u, err := a.srv.ClientQuotaUsage(ctx, c)
			if err != nil || u.PerMinute != quota || u.UsedMinute != int64(total) {
				t.Errorf("ClientQuotaUsage: got %+v, %v; want %d of %d used", u, err, total, quota)
			}
		})
	}
}

// TestQuotaAcrossNodes: two servers on one SQLite store.
func TestQuotaAcrossNodes(t *testing.T) {
	h := newHarness(t)
	testQuotaAcrossNodes(t, h, h.st, h.st)
}

// TestQuotaAcrossNodesPostgres: two servers, each with its own connection
// pool, on one PostgreSQL database.
func TestQuotaAcrossNodesPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() store.Store {
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	sa, sb := open(), open()
	clk := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := token.NewKeyring(sa, token.Config{MasterKey: master, Now: clk.Now, Rand: rand.Reader, MaxTokenTTL: 30 * 24 * time.Hour, LeadTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, keys: keys, clock: clk}
	testQuotaAcrossNodes(t, h, sa, sb)
}
