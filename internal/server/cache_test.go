package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// fakeClients is a clientGetter of made-up clients: every ID that does not
// start with "unknown" exists. It counts loads per ID.
type fakeClients struct {
	mu    sync.Mutex
	loads map[string]int
	name  map[string]string // a client's name, if not its ID
	jwks  map[string]string // a client's JWKS, if any
}

func newFakeClients() *fakeClients {
	return &fakeClients{loads: map[string]int{}, name: map[string]string{}, jwks: map[string]string{}}
}

func (f *fakeClients) GetClient(_ context.Context, id string) (store.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads[id]++
	if strings.HasPrefix(id, "unknown") {
		return store.Client{}, store.ErrNotFound
	}
	name := f.name[id]
	if name == "" {
		name = id
	}
	return store.Client{ID: id, Name: name, JWKS: f.jwks[id],
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"search", "api:read-only"},
		Secrets: []store.Secret{{ID: "sec-" + id, Digest: make([]byte, 32)}}}, nil
}

func (f *fakeClients) loaded(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads[id]
}

func mustGet(t *testing.T, c *clientCache, id string) *cachedClient {
	t.Helper()
	cc, err := c.get(context.Background(), id)
	if err != nil {
		t.Fatalf("get(%q): %v", id, err)
	}
	if cc == nil && !strings.HasPrefix(id, "unknown") || cc != nil && cc.client.ID != id {
		t.Fatalf("get(%q) = %+v", id, cc)
	}
	return cc
}

// TestClientCacheBound: however many clients pass through the cache, it
// holds at most its bound, and every client it dropped is loaded again when
// next used. Before issue 13 the cache had no bound: a million clients used
// once each stayed in memory.
func TestClientCacheBound(t *testing.T) {
	for _, max := range []int{100, 1000, 5000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			f := newFakeClients()
			c := newClientCache(f, scope.Default(), max, 10)
			n := 5 * max
			for i := range n {
				mustGet(t, c, fmt.Sprintf("c%d", i))
				if i%97 != 0 && i < n-1 {
					continue
				}
				if st := c.stats(); st.weight > max || st.entries > max || st.weight != sumWeights(c) {
					t.Fatalf("after %d clients: %d entries of weight %d, over the bound %d", i+1, st.entries, st.weight, max)
				}
			}
			st := c.stats()
			if st.entries < max*9/10 {
				t.Errorf("%d entries after %d clients; want the cache about full (%d)", st.entries, n, max)
			}
			if st.misses != uint64(n) || st.hits != 0 || st.evictions != uint64(n-st.entries) {
				t.Errorf("stats %+v; want %d misses, no hits, %d evictions", st, n, n-st.entries)
			}
			// The first client was dropped long ago: it loads again, and
			// is then a hit.
			mustGet(t, c, "c0")
			mustGet(t, c, "c0")
			if got := f.loaded("c0"); got != 2 {
				t.Errorf("c0 loaded %d times; want 2 (once more after being evicted)", got)
			}
			if got := c.stats().hits; got != 1 {
				t.Errorf("%d hits, want 1", got)
			}
		})
	}
}

// TestClientCacheKeepsHotClients: a client used often stays cached while
// many others, each used once, pass through.
func TestClientCacheKeepsHotClients(t *testing.T) {
	f := newFakeClients()
	const max = 1000
	c := newClientCache(f, scope.Default(), max, 10)
	hot := []string{"hot-a", "hot-b", "hot-c"}
	for i := range 50 * max {
		if i%(max/5) == 0 {
			for _, id := range hot {
				mustGet(t, c, id)
			}
		}
		mustGet(t, c, fmt.Sprintf("cold-%d", i))
	}
	for _, id := range hot {
		if got := f.loaded(id); got != 1 {
			t.Errorf("hot client %s loaded %d times while 50,000 others passed; want once", id, got)
		}
	}
}

// TestClientCacheWeighsSize: a client with a large cached form (here a
// 20 KB JWKS) counts once per entryUnit, so the bound holds in bytes too.
func TestClientCacheWeighsSize(t *testing.T) {
	f := newFakeClients()
	const max = 300
	c := newClientCache(f, scope.Default(), max, 10)
	big := strings.Repeat("x", 20_000)
	for i := range 100 {
		id := fmt.Sprintf("big-%d", i)
		f.jwks[id] = big
		cc := mustGet(t, c, id)
		if w := 1 + (cc.size()-1)/entryUnit; w < 20 {
			t.Fatalf("a client with a 20 KB JWKS weighs %d; want at least 20", w)
		}
		if st := c.stats(); st.weight > max {
			t.Fatalf("weight %d over the bound %d", st.weight, max)
		}
	}
	if st := c.stats(); st.entries > max/20 {
		t.Errorf("%d clients with 20 KB JWKS cached within a bound of %d; want at most %d", st.entries, max, max/20)
	}
	// An ordinary client weighs one.
	if cc := mustGet(t, c, "small"); 1+(cc.size()-1)/entryUnit != 1 {
		t.Errorf("an ordinary client's estimated size is %d bytes; want it under %d", cc.size(), entryUnit)
	}
}

// TestClientCacheNegativesBounded: unknown client IDs are cached (so
// guessing IDs does not load the store each time), but at most
// maxNegative of them.
func TestClientCacheNegativesBounded(t *testing.T) {
	f := newFakeClients()
	c := newClientCache(f, scope.Default(), 1000, 100)
	for i := range 1000 {
		mustGet(t, c, fmt.Sprintf("unknown-%d", i))
	}
	negatives := 0
	for i := range c.shards {
		negatives += c.shards[i].negatives
	}
	if negatives > 100 || negatives < 50 {
		t.Errorf("%d unknown IDs cached; want at most 100 (and not far fewer)", negatives)
	}
	// A cached unknown ID is not loaded again.
	for i := range 1000 {
		id := fmt.Sprintf("unknown-%d", i)
		if _, ok := c.peek(id); ok {
			mustGet(t, c, id)
			if got := f.loaded(id); got != 1 {
				t.Errorf("cached unknown ID %s loaded %d times", id, got)
			}
			break
		}
	}
	// Known clients still get the rest of the cache.
	for i := range 900 {
		mustGet(t, c, fmt.Sprintf("c%d", i))
	}
	if st := c.stats(); st.entries > 1000 || st.entries < 900 {
		t.Errorf("%d entries; want 900 to 1000", st.entries)
	}
}

// TestClientCacheInvalidate: a change reported by the change feed drops the
// client however full the cache is, and the next use loads it as stored;
// flush drops everything.
func TestClientCacheInvalidate(t *testing.T) {
	f := newFakeClients()
	c := newClientCache(f, scope.Default(), 500, 10)
	for i := range 2000 {
		mustGet(t, c, fmt.Sprintf("c%d", i))
	}
	cc := mustGet(t, c, "c1999")
	f.mu.Lock()
	f.name["c1999"] = "renamed"
	f.mu.Unlock()
	if again := mustGet(t, c, "c1999"); again != cc {
		t.Fatal("a cached client was loaded again without a change")
	}
	c.invalidate("c1999", "not-cached")
	if _, ok := c.peek("c1999"); ok {
		t.Fatal("invalidated client still cached")
	}
	if got := mustGet(t, c, "c1999"); got.client.Name != "renamed" {
		t.Errorf("after invalidation: name %q, want the stored one", got.client.Name)
	}
	before := c.stats()
	if before.weight != sumWeights(c) {
		t.Errorf("shard weights %d do not add up to their entries' %d", before.weight, sumWeights(c))
	}
	c.flush()
	if st := c.stats(); st.entries != 0 || st.weight != 0 {
		t.Errorf("after flush: %+v", st)
	}
	mustGet(t, c, "c1999")
	if got := f.loaded("c1999"); got != 3 {
		t.Errorf("c1999 loaded %d times; want 3", got)
	}
}

func sumWeights(c *clientCache) int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		live := 0
		for j, e := range sh.clock {
			if e == nil {
				continue
			}
			if e.slot != j || sh.entries[e.id] != e {
				panic("clock and map out of step")
			}
			n += e.weight
			live++
		}
		if live != len(sh.entries) || live+len(sh.free) != len(sh.clock) {
			panic("clock and map out of step")
		}
		sh.mu.RUnlock()
	}
	return n
}

// TestClientCacheConcurrent: many goroutines using, invalidating and
// overflowing the cache at once (run with -race) leave it within its
// bound and consistent.
func TestClientCacheConcurrent(t *testing.T) {
	f := newFakeClients()
	const max = 600
	c := newClientCache(f, scope.Default(), max, 50)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				id := fmt.Sprintf("c%d", (i*7+g)%2500)
				switch {
				case i%97 == 0:
					c.invalidate(id)
				case i%13 == 0:
					id = fmt.Sprintf("unknown-%d", i)
				}
				cc, err := c.get(context.Background(), id)
				if err != nil || (cc != nil && cc.client.ID != id) {
					t.Errorf("get(%q) = %v, %v", id, cc, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := c.stats()
	if st.weight > max || st.weight != sumWeights(c) {
		t.Errorf("weight %d (entries add up to %d), bound %d", st.weight, sumWeights(c), max)
	}
}

// TestClientCacheMetrics: the cache's hits, misses, evictions and size are
// among the server's metrics.
func TestClientCacheMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) { o.MaxCachedClients = 100 }})
	var last struct{ id, secret string }
	for i := range 150 {
		last.id, last.secret = h.client(clients.Spec{Name: fmt.Sprintf("client %d", i)})
		if r := h.token(last.id, last.secret, ""); r.status != 200 {
			t.Fatal(r.body)
		}
	}
	if r := h.token(last.id, last.secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	for name, want := range map[string]float64{
		"gatehouse_client_cache_misses_total":    150,
		"gatehouse_client_cache_hits_total":      1,
		"gatehouse_client_cache_evictions_total": 50,
		"gatehouse_client_cache_entries":         100,
	} {
		if v := gatherValue(t, h, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

func gatherValue(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("metric %s has %d series; want 1", name, len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestUsageRecorderSignalsFull: once maxPendingUsage secrets' last-use
// times are pending, the recorder asks Run to write them, so they do not
// pile up for a minute when many clients are used.
func TestUsageRecorderSignalsFull(t *testing.T) {
	u := usageRecorder{full: make(chan struct{}, 1)}
	now := time.Unix(1_800_000_000, 0)
	secrets := make([]cachedSecret, maxPendingUsage)
	for i := range secrets {
		secrets[i].id = fmt.Sprintf("s%d", i)
		u.used(&secrets[i], now)
		select {
		case <-u.full:
			if i != maxPendingUsage-1 {
				t.Fatalf("signalled full after %d secrets; want %d", i+1, maxPendingUsage)
			}
		default:
			if i == maxPendingUsage-1 {
				t.Fatalf("not signalled after %d secrets", maxPendingUsage)
			}
		}
	}
	if got, _, _ := u.take(); len(got) != maxPendingUsage {
		t.Errorf("take returned %d secrets, want %d", len(got), maxPendingUsage)
	}
}

// TestUsageRecorderBounded: while the write of last-use times is late, the
// recorder holds at most maxHeldUsage of them; a use that does not fit is
// held back, and the secret's next use after a take is recorded.
func TestUsageRecorderBounded(t *testing.T) {
	u := usageRecorder{}
	now := time.Unix(1_800_000_000, 0)
	secrets := make([]cachedSecret, maxHeldUsage+500)
	for i := range secrets {
		secrets[i].id = fmt.Sprintf("s%d", i)
		u.used(&secrets[i], now)
	}
	got, _, held := u.take()
	if len(got) != maxHeldUsage || held != 500 {
		t.Fatalf("took %d secrets, %d held back; want %d and 500", len(got), held, maxHeldUsage)
	}
	// A held-back secret's next use is recorded, even within touchInterval.
	last := &secrets[len(secrets)-1]
	u.used(last, now.Add(time.Second))
	if got, _, held := u.take(); len(got) != 1 || !got[last.id].Equal(now.Add(time.Second)) || held != 0 {
		t.Errorf("the held-back secret's next use: took %v, %d held back; want it at now+1s", got, held)
	}
	// One that was taken is not recorded again within touchInterval.
	u.used(&secrets[0], now.Add(time.Second))
	if got, _, _ := u.take(); len(got) != 0 {
		t.Errorf("a recorded secret used again within touchInterval: took %v, want nothing", got)
	}
}
