package usage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/usage"
)

func newService(t *testing.T, now time.Time) (*usage.Service, store.Store) {
	t.Helper()
	st := newStore(t, now, "app")
	return usage.New(usage.Options{Store: st, Now: func() time.Time { return now }}), st
}

func TestReportChecks(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	svc, _ := newService(t, now)
	ctx := context.Background()
	bad := []admin.UsageCalls{
		{ClientID: "app", Pattern: "", Allowed: 1},
		{ClientID: "app", Pattern: strings.Repeat("x", 513), Allowed: 1},
		{ClientID: "app", Pattern: "a\nb", Allowed: 1},
		{ClientID: strings.Repeat("c", 257), Pattern: "*", Allowed: 1},
		{ClientID: "app", Pattern: "*", Allowed: -1},
		{ClientID: "app", Pattern: "*", Denied: map[string]int64{"expired": -1}},
	}
	for _, c := range bad {
		if err := svc.Report(ctx, admin.UsageReport{Calls: []admin.UsageCalls{c}}); !errors.Is(err, usage.ErrInvalidReport) {
			t.Errorf("Report(%+v): got %v, want ErrInvalidReport", c, err)
		}
	}
	if err := svc.Report(ctx, admin.UsageReport{Calls: make([]admin.UsageCalls, usage.MaxReportCalls+1)}); !errors.Is(err, usage.ErrInvalidReport) {
		t.Errorf("a report over %d pairs: got %v, want ErrInvalidReport", usage.MaxReportCalls, err)
	}
	u, err := svc.ClientUsage(ctx, "app", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Calls) != 0 {
		t.Errorf("refused reports wrote %+v, want nothing", u.Calls)
	}

	// A last-seen time in the future counts as now; an unknown reason as other.
	if err := svc.Report(ctx, admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "app", Pattern: "*", Allowed: 2, Denied: map[string]int64{"made_up": 3}, LastSeen: now.Add(72 * time.Hour)},
	}}); err != nil {
		t.Fatal(err)
	}
	if u, err = svc.ClientUsage(ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	if len(u.Calls) != 1 || u.Calls[0].Allowed != 2 || u.Calls[0].Denied[usage.OtherReason] != 3 || !u.Calls[0].LastSeen.Equal(now) {
		t.Errorf("usage today: got %+v, want 2 allowed, 3 other, last seen now", u.Calls)
	}
}

// TestFlushManyClients: a tally of more clients than one write takes
// (usage.flushChunk) is written whole, each client's addresses with its
// tokens, and the Tally signals Full at its bound rather than dropping
// tokens.
func TestFlushManyClients(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	const n = 1234
	ids := appIDs(n)
	st := newStore(t, now, ids...)
	svc := usage.New(usage.Options{Store: st, MaxClients: n, Now: func() time.Time { return now }})
	tl := svc.Tally()
	for i, id := range ids {
		tl.Issued(id, "192.0.2.1", now)
		tl.Issued(id, fmt.Sprintf("198.51.100.%d", i%200), now)
		if i == n-2 {
			select {
			case <-tl.Full():
				t.Fatalf("Full with %d clients of %d", i+1, n)
			default:
			}
		}
	}
	tl.Issued("gone", "192.0.2.1", now) // not a client: not written
	select {
	case <-tl.Full():
	default:
		t.Fatalf("Full not signalled with %d clients", n)
	}
	svc.Flush(ctx)
	if tl.Dropped() != 0 {
		t.Errorf("dropped %d", tl.Dropped())
	}
	for _, i := range []int{0, 499, 500, 999, 1000, n - 1} {
		wantTwoTokens(t, svc, ids[i])
	}
}

// wantTwoTokens checks that the client's stored usage is 2 tokens today,
// from 2 addresses.
func wantTwoTokens(t *testing.T, svc *usage.Service, id string) {
	t.Helper()
	u, err := svc.ClientUsage(context.Background(), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Tokens) != 1 || u.Tokens[0].Count != 2 || len(u.Addresses) != 2 {
		t.Fatalf("%s: got tokens %+v, addresses %+v; want 2 tokens today from 2 addresses", id, u.Tokens, u.Addresses)
	}
}

// newStore is a SQLite store with the clients ids.
func newStore(t *testing.T, now time.Time, ids ...string) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, id := range ids {
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: id, CreatedAt: now, UpdatedAt: now},
			store.AuditEvent{Time: now, Actor: "test", Action: "client.create", Target: id}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// appIDs are the client IDs app-0000 ... app-<n-1>.
func appIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("app-%04d", i)
	}
	return ids
}

// failingWrite is a store whose fail-th usage write fails.
type failingWrite struct {
	usage.Store
	fail, writes int
}

func (f *failingWrite) RecordUsage(ctx context.Context, r store.UsageReport, maxAddresses int, newAddress func(store.UsageAddress) store.AuditEvent) ([]store.UsageAddress, error) {
	f.writes++
	if f.writes == f.fail {
		return nil, errors.New("the store is down")
	}
	return f.Store.RecordUsage(ctx, r, maxAddresses, newAddress)
}

// TestFlushFailureKeepsCounts: when a write of the tally fails, what it
// did not write (that report and the ones after it) goes back into the
// Tally, with what was counted since, and the next Flush writes it: no
// token is lost, none counted twice.
func TestFlushFailureKeepsCounts(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	const n = 1234 // three writes of usage.flushChunk clients
	ids := appIDs(n)
	st := &failingWrite{Store: newStore(t, now, ids...), fail: 2}
	svc := usage.New(usage.Options{Store: st, MaxClients: n, Now: func() time.Time { return now }})
	tl := svc.Tally()
	for _, id := range ids {
		tl.Issued(id, "192.0.2.1", now)
	}
	svc.Flush(ctx) // the first write, then a failure
	if st.writes != 2 {
		t.Fatalf("%d writes, want 2 (the second failed)", st.writes)
	}
	for _, id := range ids { // counted while the write failed
		tl.Issued(id, "198.51.100.1", now.Add(time.Minute))
	}
	svc.Flush(ctx)
	if tl.Dropped() != 0 {
		t.Errorf("dropped %d", tl.Dropped())
	}
	for _, id := range ids {
		wantTwoTokens(t, svc, id)
	}
}
