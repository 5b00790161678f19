package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Usage per credential: daily totals that add up, last-seen times that only
// move forward, a bounded top of source addresses with an audit event for
// each new one.

func newAddressEvent(a store.UsageAddress) store.AuditEvent {
	return store.AuditEvent{Time: a.FirstSeen, Actor: "system", Action: "client.new_address", Target: a.ClientID, Detail: "first seen from " + a.Address}
}

func recordUsage(t *testing.T, s store.Store, r store.UsageReport, maxAddresses int) []store.UsageAddress {
	t.Helper()
	added, err := s.RecordUsage(t.Context(), r, maxAddresses, newAddressEvent)
	if err != nil {
		t.Fatalf("RecordUsage: %v", err)
	}
	return added
}

func testUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("a"))
	mustCreate(t, s, minimalClient("b"))
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	st := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	added := recordUsage(t, s, store.UsageReport{
		Calls: []store.UsageCalls{
			{ClientID: "a", Day: "2026-01-02", Pattern: "records/*", Outcome: store.UsageAllowed, Count: 3, LastSeen: t2},
			{ClientID: "a", Day: "2026-01-02", Pattern: "records/*", Outcome: "insufficient_scope", Count: 1, LastSeen: t1},
			{ClientID: "a", Day: "2026-01-01", Pattern: "*", Outcome: store.UsageAllowed, Count: 7, LastSeen: t0},
			{ClientID: "b", Day: "2026-01-02", Pattern: "*", Outcome: store.UsageAllowed, Count: 1, LastSeen: t0},
			{ClientID: "gone", Day: "2026-01-02", Pattern: "*", Outcome: store.UsageAllowed, Count: 1, LastSeen: t0}, // ignored
		},
		Tokens:    []store.UsageTokens{{ClientID: "a", Day: "2026-01-02", Count: 5}, {ClientID: "gone", Day: "2026-01-02", Count: 5}},
		Addresses: []store.UsageAddress{{ClientID: "a", Address: "192.0.2.1", Count: 5, FirstSeen: t0, LastSeen: t1}},
	}, 10)
	if len(added) != 1 || added[0].Address != "192.0.2.1" {
		t.Errorf("new addresses: got %+v, want 192.0.2.1", added)
	}
	// A second report adds up; an older last-seen time does not move back;
	// a known address is not new.
	added = recordUsage(t, s, store.UsageReport{
		Calls: []store.UsageCalls{
			{ClientID: "a", Day: "2026-01-02", Pattern: "records/*", Outcome: store.UsageAllowed, Count: 2, LastSeen: t1},
		},
		Tokens:    []store.UsageTokens{{ClientID: "a", Day: "2026-01-02", Count: 1}, {ClientID: "a", Day: "2026-01-03", Count: 2}},
		Addresses: []store.UsageAddress{{ClientID: "a", Address: "192.0.2.1", Count: 1, FirstSeen: t2, LastSeen: t2}},
	}, 10)
	if len(added) != 0 {
		t.Errorf("new addresses on the second report: got %+v, want none", added)
	}
	got, err := s.ClientUsage(ctx, "a", "2026-01-02", 10)
	if err != nil {
		t.Fatalf("ClientUsage: %v", err)
	}
	want := store.ClientUsage{
		Calls: []store.UsageCalls{
			{ClientID: "a", Day: "2026-01-02", Pattern: "records/*", Outcome: store.UsageAllowed, Count: 5, LastSeen: st(t2)},
			{ClientID: "a", Day: "2026-01-02", Pattern: "records/*", Outcome: "insufficient_scope", Count: 1, LastSeen: st(t1)},
		},
		Tokens:    []store.UsageTokens{{ClientID: "a", Day: "2026-01-03", Count: 2}, {ClientID: "a", Day: "2026-01-02", Count: 6}},
		Addresses: []store.UsageAddress{{ClientID: "a", Address: "192.0.2.1", Count: 6, FirstSeen: st(t0), LastSeen: st(t2)}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ClientUsage (-want +got):\n%s", d)
	}
	evs, err := s.ListAudit(ctx, store.AuditFilter{Action: "client.new_address"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Target != "a" || evs[0].Detail != "first seen from 192.0.2.1" {
		t.Errorf("audit events: got %+v, want one for a's new address", evs)
	}
	if _, err := s.ClientUsage(ctx, "gone", "2026-01-01", 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClientUsage of an unknown client: got %v, want ErrNotFound", err)
	}

	if err := s.PruneUsage(ctx, "2026-01-02"); err != nil {
		t.Fatalf("PruneUsage: %v", err)
	}
	got, err = s.ClientUsage(ctx, "a", "2000-01-01", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Calls) != 2 || len(got.Tokens) != 2 || len(got.Addresses) != 1 {
		t.Errorf("after PruneUsage: got %d calls, %d token days, %d addresses; want 2, 2, 1 (2026-01-01 gone)", len(got.Calls), len(got.Tokens), len(got.Addresses))
	}

	// Deleting a client deletes its usage.
	if err := s.DeleteClient(ctx, "a", nil, store.AuditEvent{Time: t0, Actor: "test", Action: "client.delete", Target: "a"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, minimalClient("a"))
	got, err = s.ClientUsage(ctx, "a", "2000-01-01", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Calls)+len(got.Tokens)+len(got.Addresses) != 0 {
		t.Errorf("usage of a re-created client: got %+v, want none", got)
	}
}

func testUsageAddressesBounded(t *testing.T, s store.Store) {
	mustCreate(t, s, minimalClient("a"))
	addr := func(a string, n int64, at time.Time) store.UsageAddress {
		return store.UsageAddress{ClientID: "a", Address: a, Count: n, FirstSeen: at, LastSeen: at}
	}
	recordUsage(t, s, store.UsageReport{Addresses: []store.UsageAddress{
		addr("192.0.2.1", 10, t0), addr("192.0.2.2", 1, t0), addr("192.0.2.3", 5, t0),
	}}, 2)
	got, err := s.ClientUsage(t.Context(), "a", "2000-01-01", 10)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, a := range got.Addresses {
		kept = append(kept, a.Address)
	}
	if d := cmp.Diff([]string{"192.0.2.1", "192.0.2.3"}, kept); d != "" {
		t.Errorf("addresses kept, the top 2 by count (-want +got):\n%s", d)
	}
	// The dropped address is new again when next seen.
	added := recordUsage(t, s, store.UsageReport{Addresses: []store.UsageAddress{addr("192.0.2.2", 1, t0.Add(time.Hour))}}, 2)
	if len(added) != 1 {
		t.Errorf("a dropped address seen again: got %+v, want it new", added)
	}
}

// testUsageManyClients: a report of more rows than one statement carries
// (the writes are batched), with rows repeated (they add up) and the
// bound on addresses applied to every client that got a new one.
func testUsageManyClients(t *testing.T, s store.Store) {
	const n = 300
	var r store.UsageReport
	for i := range n {
		id := fmt.Sprintf("c%03d", i)
		mustCreate(t, s, minimalClient(id))
		r.Tokens = append(r.Tokens, store.UsageTokens{ClientID: id, Day: "2026-01-02", Count: 1},
			store.UsageTokens{ClientID: id, Day: "2026-01-02", Count: 2})
		r.Addresses = append(r.Addresses,
			store.UsageAddress{ClientID: id, Address: "192.0.2.1", Count: 1, FirstSeen: t0, LastSeen: t0},
			store.UsageAddress{ClientID: id, Address: "192.0.2.2", Count: 2, FirstSeen: t0, LastSeen: t0},
			store.UsageAddress{ClientID: id, Address: "192.0.2.1", Count: 2, FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(time.Minute)})
	}
	if added := recordUsage(t, s, r, 1); len(added) != 2*n {
		t.Errorf("new addresses: got %d, want %d", len(added), 2*n)
	}
	if added := recordUsage(t, s, store.UsageReport{Tokens: r.Tokens[:2], Addresses: r.Addresses[:1]}, 1); len(added) != 0 {
		t.Errorf("new addresses on a second report: got %+v, want none", added)
	}
	evs, err := s.ListAudit(t.Context(), store.AuditFilter{Action: "client.new_address", Limit: 3 * n})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2*n {
		t.Errorf("audit events: got %d, want %d", len(evs), 2*n)
	}
	for _, i := range []int{0, 255, 256, n - 1} {
		id := fmt.Sprintf("c%03d", i)
		got, err := s.ClientUsage(t.Context(), id, "2000-01-01", 10)
		if err != nil {
			t.Fatal(err)
		}
		tokens := int64(3)
		addr := store.UsageAddress{ClientID: id, Address: "192.0.2.1", Count: 3, FirstSeen: normTime(t0.Add(-time.Minute)), LastSeen: normTime(t0.Add(time.Minute))}
		if i == 0 {
			tokens, addr.Count = 6, 4
		}
		want := store.ClientUsage{Tokens: []store.UsageTokens{{ClientID: id, Day: "2026-01-02", Count: tokens}}, Addresses: []store.UsageAddress{addr}}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s's usage (-want +got):\n%s", id, d)
		}
	}
}

func testUsageConcurrent(t *testing.T, s store.Store) {
	mustCreate(t, s, minimalClient("a"))
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.RecordUsage(t.Context(), store.UsageReport{
				Calls:     []store.UsageCalls{{ClientID: "a", Day: "2026-01-02", Pattern: "*", Outcome: store.UsageAllowed, Count: 1, LastSeen: t0}},
				Tokens:    []store.UsageTokens{{ClientID: "a", Day: "2026-01-02", Count: 1}},
				Addresses: []store.UsageAddress{{ClientID: "a", Address: "192.0.2.1", Count: 1, FirstSeen: t0, LastSeen: t0}},
			}, 10, newAddressEvent)
			if err != nil {
				t.Errorf("RecordUsage: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := s.ClientUsage(t.Context(), "a", "2026-01-02", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Calls) != 1 || got.Calls[0].Count != n || len(got.Tokens) != 1 || got.Tokens[0].Count != n || len(got.Addresses) != 1 || got.Addresses[0].Count != n {
		t.Errorf("after %d concurrent reports: got %+v, want every count %d", n, got, n)
	}
	evs, err := s.ListAudit(t.Context(), store.AuditFilter{Action: "client.new_address"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Errorf("audit events for one new address reported concurrently: got %d, want 1", len(evs))
	}
}
