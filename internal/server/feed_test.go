package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// feedStore is a store whose change feed is a list the test writes, and
// which records how much of it the server reads.
type feedStore struct {
	store.Store
	mu      sync.Mutex
	feed    []store.Change // in feed order
	read    int            // entries returned, in all
	maxPage int            // the most entries returned by one read
}

func (s *feedStore) add(cs ...store.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		c.Seq = int64(len(s.feed) + 1)
		s.feed = append(s.feed, c)
	}
	slices.SortStableFunc(s.feed, func(a, b store.Change) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Seq, b.Seq))
	})
}

func (s *feedStore) ChangesAfter(_ context.Context, after store.Change, limit int) ([]store.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Change
	for _, c := range s.feed {
		if c.At.After(after.At) || c.At.Equal(after.At) && c.Seq > after.Seq {
			out = append(out, c)
			if len(out) == limit {
				break
			}
		}
	}
	s.read += len(out)
	s.maxPage = max(s.maxPage, len(out))
	return out, nil
}

func (s *feedStore) LastChange(context.Context) (store.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.feed) == 0 {
		return store.Change{}, nil
	}
	return s.feed[len(s.feed)-1], nil
}

func (s *feedStore) counts() (read, maxPage int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read, s.maxPage
}

func newFeedHarness(t *testing.T) (*harness, *feedStore) {
	var fs *feedStore
	h := newHarness(t, harnessOpts{func(o *Options) {
		fs = &feedStore{Store: o.Store}
		o.Store = fs
	}})
	h.srv.changePageSize = 100
	return h, fs
}

// clientChanges returns n change-feed entries for clients bulk-0..,
// evenly spread from from to to.
func clientChanges(n int, from, to time.Time) []store.Change {
	out := make([]store.Change, n)
	for i := range out {
		out[i] = store.Change{Kind: store.ChangeClient, ID: fmt.Sprintf("bulk-%d", i),
			At: from.Add(time.Duration(i) * to.Sub(from) / time.Duration(n))}
	}
	return out
}

// TestFeedStartsNearItsEnd: a server starting on a store whose change feed
// holds the last hour of a bulk import (a million entries in the issue's
// run) reads only the feed's last overlap window, not all of it. It used
// to read the whole feed at start, holding every entry in memory at once.
func TestFeedStartsNearItsEnd(t *testing.T) {
	h, fs := newFeedHarness(t)
	id, secret := h.client(clients.Spec{})
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	now := time.Now()
	fs.add(clientChanges(20_000, now.Add(-50*time.Minute), now.Add(-time.Minute))...)
	fs.add(store.Change{Kind: store.ChangeClient, ID: id, At: now.Add(-3 * time.Second)})

	var f feed
	h.srv.follow(context.Background(), &f)
	if read, _ := fs.counts(); read > 10 {
		t.Errorf("the first read of the feed returned %d entries; want only those of its last %s (1)", read, feedOverlap)
	}
	// A change inside the window still counts: it may have been committed
	// after the client was loaded.
	if _, ok := h.srv.clients.peek(id); ok {
		t.Error("a client changed within the overlap window before the first read is still cached")
	}
	if h.srv.staleness() != 0 {
		t.Errorf("the cache is not confirmed after the first read: staleness %s", h.srv.staleness())
	}
}

// TestFeedReadsInPages: a burst of changes is read in pages, every entry
// applied, and what the feed follower keeps (the entries of the overlap
// window) does not grow with the burst.
func TestFeedReadsInPages(t *testing.T) {
	h, fs := newFeedHarness(t)
	var f feed
	h.srv.follow(context.Background(), &f) // an empty feed

	id, secret := h.client(clients.Spec{})
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	now := time.Now()
	burst := clientChanges(5000, now.Add(-5*time.Minute), now.Add(-20*time.Second))
	burst[2500].ID = id // in the middle of the burst
	fs.add(burst...)
	fs.add(clientChanges(50, now.Add(-5*time.Second), now)...) // in the overlap window
	h.srv.follow(context.Background(), &f)

	read, maxPage := fs.counts()
	if maxPage > 100 {
		t.Errorf("a read of the feed returned %d entries; want pages of at most 100", maxPage)
	}
	if read < 5050 {
		t.Errorf("%d entries read; want all 5050", read)
	}
	if _, ok := h.srv.clients.peek(id); ok {
		t.Error("a client changed in the middle of the burst is still cached")
	}
	if len(f.seen) > 50+4*changePageSize {
		t.Errorf("%d entries kept after the burst; want those of the overlap window (50) and at most a few pages", len(f.seen))
	}

	// The next poll reads only the window again, and applies nothing twice.
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	cached, _ := h.srv.clients.peek(id)
	h.srv.follow(context.Background(), &f)
	if again, _ := fs.counts(); again-read > 60 {
		t.Errorf("the next poll read %d entries; want the window's (50)", again-read)
	}
	if now, _ := h.srv.clients.peek(id); now != cached || now == nil {
		t.Error("re-reading the window dropped a client that did not change again")
	}
}

// stuckQuotaStore is a store whose quota exchange waits (as behind another
// writer's long transaction) until its context ends.
type stuckQuotaStore struct {
	store.Store
	calls atomic.Int32
}

func (s *stuckQuotaStore) SyncQuotas(ctx context.Context, _ string, _, _, _ time.Time, _ func([]store.QuotaCount, int) []store.QuotaCount) error {
	s.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestSlowQuotaExchangeKeepsCacheConfirmed: a quota exchange stuck waiting
// for the store's write lock does not hold up the change feed's reads, so
// the client cache stays confirmed and clients keep authenticating. (The
// exchange ran in the feed follower's loop: a 5 s wait there went past
// cache.max_staleness, and a million-client load run got 503s during a
// long usage write.)
func TestSlowQuotaExchangeKeepsCacheConfirmed(t *testing.T) {
	stuck := &stuckQuotaStore{}
	h := newHarness(t, harnessOpts{opts: func(o *Options) {
		stuck.Store = o.Store
		o.Store = stuck
		o.Now = time.Now // staleness is measured on the clock
		o.MaxStaleness = 300 * time.Millisecond
		o.Quota.SyncInterval = 50 * time.Millisecond
	}})
	id, secret := h.client(clients.Spec{})
	h.run()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if r := h.token(id, secret, ""); r.status != 200 {
			t.Fatalf("token with the quota exchange stuck (%d exchanges begun): got %d %s, want 200", stuck.calls.Load(), r.status, r.body)
		}
		if got := h.srv.staleness(); got > 300*time.Millisecond {
			t.Fatalf("cache staleness %s with the quota exchange stuck, want within max_staleness", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stuck.calls.Load() == 0 {
		t.Fatal("the quota exchange never ran")
	}
}
