package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// testQuotaCounts: each node's entries replace its own earlier ones; fn
// sees the sums of the other nodes' entries of windows that have not ended
// and the nodes seen since activeSince; ended windows are pruned.
func testQuotaCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := t0.Add(30 * time.Second)
	minEnd, hourEnd := t0.Add(time.Minute), t0.Add(time.Hour)
	past := t0 // a window that ended at t0
	sync := func(node string, at time.Time, counts ...store.QuotaCount) ([]store.QuotaCount, int) {
		t.Helper()
		var (
			others []store.QuotaCount
			n      int
		)
		err := s.SyncQuotas(ctx, node, at, at.Add(-time.Second), at.Add(-3*time.Second), func(o []store.QuotaCount, nodes int) []store.QuotaCount {
			others, n = o, nodes
			return counts
		})
		if err != nil {
			t.Fatalf("SyncQuotas(%s): %v", node, err)
		}
		return others, n
	}
	q := func(client string, w time.Duration, end time.Time, n, r int64) store.QuotaCount {
		return store.QuotaCount{ClientID: client, Window: w, End: end, Count: n, Reserved: r}
	}
	sortCounts := cmp.Transformer("sort", func(in []store.QuotaCount) []store.QuotaCount {
		out := append([]store.QuotaCount(nil), in...)
		for i := range out {
			out[i].End = normTime(out[i].End)
			for j := i; j > 0 && less(out[j], out[j-1]); j-- {
				out[j], out[j-1] = out[j-1], out[j]
			}
		}
		return out
	})

	others, n := sync("node-a", now, q("c1", time.Minute, minEnd, 5, 10), q("c1", time.Hour, hourEnd, 5, 10),
		q("c1", time.Minute, past, 9, 9))
	if len(others) != 0 || n != 1 {
		t.Fatalf("first node: got others %v, nodes %d; want none, 1", others, n)
	}
	// node-a again: its entries replace, not add.
	sync("node-a", now, q("c1", time.Minute, minEnd, 7, 12), q("c1", time.Hour, hourEnd, 7, 12))
	others, n = sync("node-b", now.Add(time.Second), q("c1", time.Minute, minEnd, 2, 3), q("c2", time.Hour, hourEnd, 1, 1))
	want := []store.QuotaCount{q("c1", time.Minute, minEnd, 7, 12), q("c1", time.Hour, hourEnd, 7, 12)}
	if diff := cmp.Diff(want, others, sortCounts); diff != "" || n != 2 {
		t.Errorf("node-b reads (-want +got):\n%s\nnodes: got %d, want 2", diff, n)
	}
	others, _ = sync("node-a", now.Add(time.Second))
	want = []store.QuotaCount{q("c1", time.Minute, minEnd, 2, 3), q("c2", time.Hour, hourEnd, 1, 1)}
	if diff := cmp.Diff(want, others, sortCounts); diff != "" {
		t.Errorf("node-a reads (-want +got):\n%s", diff)
	}
	// A record seen at or after seenAfter is left as it is: node-b stays
	// seen at now+1s, before activeSince now+1.2s.
	keep := func([]store.QuotaCount, int) []store.QuotaCount { return nil }
	if err := s.SyncQuotas(ctx, "node-b", now.Add(1500*time.Millisecond), now, now, keep); err != nil {
		t.Fatal(err)
	}
	err := s.SyncQuotas(ctx, "node-a", now.Add(2*time.Second), now, now.Add(1200*time.Millisecond),
		func(_ []store.QuotaCount, nodes int) []store.QuotaCount { n = nodes; return nil })
	if err != nil || n != 1 {
		t.Errorf("node-b not refreshed: got %d nodes, %v; want 1", n, err)
	}
	got, err := s.QuotaCounts(ctx, "c1", now)
	if err != nil {
		t.Fatalf("QuotaCounts: %v", err)
	}
	want = []store.QuotaCount{q("c1", time.Minute, minEnd, 9, 15), q("c1", time.Hour, hourEnd, 7, 12)}
	if diff := cmp.Diff(want, got, sortCounts); diff != "" {
		t.Errorf("QuotaCounts(c1) (-want +got):\n%s", diff)
	}
	// A node not seen since activeSince is no longer counted; the minute
	// window's entries are gone once it ended.
	later := minEnd.Add(10 * time.Second)
	others, n = sync("node-a", later)
	want = []store.QuotaCount{q("c2", time.Hour, hourEnd, 1, 1)}
	if diff := cmp.Diff(want, others, sortCounts); diff != "" || n != 1 {
		t.Errorf("after the minute: (-want +got):\n%s\nnodes: got %d, want 1", diff, n)
	}
	if got, err := s.QuotaCounts(ctx, "c1", later); err != nil || len(got) != 1 || got[0].Count != 7 {
		t.Errorf("QuotaCounts(c1) after the minute: got %v, %v; want the hour's 7", got, err)
	}
	// The minute's entries ended before activeSince: deleted, not only
	// filtered out.
	if got, err := s.QuotaCounts(ctx, "c1", now); err != nil || len(got) != 1 || got[0].Window != time.Hour {
		t.Errorf("QuotaCounts(c1) at the minute's time after it was pruned: got %v, %v; want the hour's only", got, err)
	}
}

func less(a, b store.QuotaCount) bool {
	if a.ClientID != b.ClientID {
		return a.ClientID < b.ClientID
	}
	if a.Window != b.Window {
		return a.Window < b.Window
	}
	return a.End.Before(b.End)
}

// testRecordAudit: an event recorded on its own is listed.
func testRecordAudit(t *testing.T, s store.Store) {
	ev := store.AuditEvent{Time: t0, Actor: "system", Action: "client.quota_exceeded", Target: "c1", Detail: "60 tokens per minute"}
	if err := s.RecordAudit(t.Context(), ev); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	got, err := s.ListAudit(t.Context(), store.AuditFilter{Action: "client.quota_exceeded"})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit: got %v, %v; want the event", got, err)
	}
	got[0].ID = 0
	ev.Time = normTime(ev.Time)
	got[0].Time = normTime(got[0].Time)
	if diff := cmp.Diff(ev, got[0]); diff != "" {
		t.Errorf("recorded event (-want +got):\n%s", diff)
	}
}
