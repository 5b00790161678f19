package usage

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/resource"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRecorderCounts(t *testing.T) {
	r := NewRecorder(10)
	r.Record("a", "records/*", true, "", t0)
	r.Record("a", "records/*", true, "", t0.Add(time.Second))
	r.Record("a", "records/*", false, resource.ReasonInsufficientScope, t0)
	r.Record("a", "", false, resource.ReasonInsufficientScope, t0)
	r.Record("", "workers/me", false, resource.ReasonMissingToken, t0)
	r.Record("b", "*", false, "some_new_reason", t0)
	got := r.Take()
	want := admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "", Pattern: "workers/me", Denied: map[string]int64{"missing_token": 1}, LastSeen: t0},
		{ClientID: "a", Pattern: "records/*", Allowed: 2, Denied: map[string]int64{"insufficient_scope": 1}, LastSeen: t0.Add(time.Second)},
		{ClientID: "a", Pattern: Unmatched, Denied: map[string]int64{"insufficient_scope": 1}, LastSeen: t0},
		{ClientID: "b", Pattern: "*", Denied: map[string]int64{OtherReason: 1}, LastSeen: t0},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Take (-want +got):\n%s", d)
	}
	if got := r.Take(); len(got.Calls) != 0 {
		t.Errorf("a second Take: got %+v, want nothing (a new window)", got)
	}
}

func TestRecorderBound(t *testing.T) {
	r := NewRecorder(3)
	for i := range 5 {
		r.Record(fmt.Sprintf("c%d", i), "*", true, "", t0)
	}
	r.Record("c0", "*", true, "", t0) // a known pair still counts as itself
	got := r.Take()
	var pairs []string
	for _, c := range got.Calls {
		pairs = append(pairs, fmt.Sprintf("%s %s %d", c.ClientID, c.Pattern, c.Allowed))
	}
	if d := cmp.Diff([]string{" other 2", "c0 * 2", "c1 * 1", "c2 * 1"}, pairs); d != "" {
		t.Errorf("pairs over the bound go to other (-want +got):\n%s", d)
	}
	if r.Overflow() != 2 {
		t.Errorf("Overflow: got %d, want 2", r.Overflow())
	}
	// The bound is per window.
	for i := range 3 {
		r.Record(fmt.Sprintf("d%d", i), "*", true, "", t0)
	}
	if got := r.Take(); len(got.Calls) != 3 || r.Overflow() != 2 {
		t.Errorf("after Take the bound starts again: got %d pairs, overflow %d; want 3, 2", len(got.Calls), r.Overflow())
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder(100)
	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var taken []admin.UsageReport
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r.Record(fmt.Sprintf("c%d", g%3), "*", i%2 == 0, resource.ReasonExpired, t0)
				if i%250 == 0 {
					rep := r.Take()
					mu.Lock()
					taken = append(taken, rep)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	taken = append(taken, r.Take())
	var all admin.UsageReport
	for _, rep := range taken {
		all = Merge(all, rep, 0)
	}
	var allowed, denied int64
	for _, c := range all.Calls {
		allowed += c.Allowed
		denied += c.Denied[resource.ReasonExpired]
	}
	if allowed != goroutines*each/2 || denied != goroutines*each/2 {
		t.Errorf("counted across concurrent Takes: %d allowed, %d denied; want %d each (none lost, none twice)", allowed, denied, goroutines*each/2)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder(10)
	r.Record("client", "records/*", true, "", t0)
	if n := testing.AllocsPerRun(1000, func() { r.Record("client", "records/*", true, "", t0) }); n != 0 {
		t.Errorf("Record of a known pair allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		r.ObserveCall(nil, resource.Call{Allowed: true, ClientID: "client", Pattern: "records/*", At: t0})
	}); n != 0 {
		t.Errorf("ObserveCall of a known pair allocates %v times, want 0", n)
	}
}

func TestMergeBound(t *testing.T) {
	a := admin.UsageReport{Calls: []admin.UsageCalls{{ClientID: "a", Pattern: "*", Allowed: 1, LastSeen: t0}}}
	b := admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "a", Pattern: "*", Allowed: 2, Denied: map[string]int64{"expired": 1}, LastSeen: t0.Add(time.Minute)},
		{ClientID: "b", Pattern: "*", Allowed: 5, LastSeen: t0},
		{ClientID: "c", Pattern: "*", Allowed: 7, LastSeen: t0},
	}}
	got := Merge(a, b, 2)
	want := admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "a", Pattern: "*", Allowed: 3, Denied: map[string]int64{"expired": 1}, LastSeen: t0.Add(time.Minute)},
		{ClientID: "b", Pattern: "*", Allowed: 5, LastSeen: t0},
		{ClientID: "", Pattern: Other, Allowed: 7, LastSeen: t0},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Merge (-want +got):\n%s", d)
	}
}

func TestSenderBatchesAndRetries(t *testing.T) {
	r := NewRecorder(10)
	var sent []admin.UsageReport
	fail := true
	s := NewSender(r, func(_ context.Context, rep admin.UsageReport) error {
		if fail {
			return errors.New("server down")
		}
		sent = append(sent, rep)
		return nil
	}, time.Minute, 10, nil)
	s.Flush(t.Context()) // nothing recorded: nothing sent
	r.Record("a", "*", true, "", t0)
	r.Record("a", "*", true, "", t0)
	s.Flush(t.Context()) // refused: kept
	fail = false
	r.Record("a", "*", true, "", t0)
	s.Flush(t.Context())
	s.Flush(t.Context())
	if len(sent) != 1 || len(sent[0].Calls) != 1 || sent[0].Calls[0].Allowed != 3 {
		t.Fatalf("sent: got %+v, want one report of 3 calls (the refused batch merged into the next)", sent)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	if got := gather(t, reg, "gatehouse_gateway_usage_reports_total"); got["error"] != 1 || got["ok"] != 1 {
		t.Errorf("reports by result: got %v, want 1 error, 1 ok", got)
	}
}

func TestCollector(t *testing.T) {
	r := NewRecorder(1)
	r.Record("a", "records/*", true, "", t0)
	r.Take()
	r.Record("a", "records/*", true, "", t0)
	r.Record("", "records/*", false, resource.ReasonMissingToken, t0) // over the bound of 1: other
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(r, "gatehouse_gateway"))
	if got := gather(t, reg, "gatehouse_gateway_usage_overflow_total"); got[""] != 1 {
		t.Errorf("overflow: got %v, want 1", got)
	}
	got := gather(t, reg, "gatehouse_gateway_calls_total")
	// Taken and not yet taken calls both count; no client label.
	if d := cmp.Diff(map[string]float64{"allowed records/*": 2, "missing_token other": 1}, got); d != "" {
		t.Errorf("gatehouse_gateway_calls_total by outcome, pattern (-want +got):\n%s", d)
	}
}

func TestTallyBounds(t *testing.T) {
	tl := NewTally(2, 2)
	tl.Issued("a", "192.0.2.1", t0)
	tl.Issued("a", "192.0.2.1", t0.Add(time.Second))
	tl.Issued("a", "192.0.2.2", t0)
	tl.Issued("a", "192.0.2.3", t0) // a third address: dropped, the token counts
	tl.Issued("a", "192.0.2.1", t0.Add(24*time.Hour))
	select {
	case <-tl.Full():
		t.Fatal("Full signalled with one client of two")
	default:
	}
	tl.Issued("b", "", t0.Add(24*time.Hour))
	select {
	case <-tl.Full():
	default:
		t.Fatal("Full not signalled with two clients of two")
	}
	// Past maxClients the tally keeps counting until it is taken, up to
	// overfill times maxClients clients.
	for i := range overfill*2 - 1 {
		tl.Issued(fmt.Sprintf("c%d", i), "192.0.2.9", t0)
	}
	tokens, addrs := takeAll(t, tl)
	if len(tokens) != 3+overfill*2-2 || len(addrs) != 2+overfill*2-2 || tl.Dropped() != 2 {
		t.Fatalf("got %d token rows, %d addresses, %d dropped; want %d, %d, 2", len(tokens), len(addrs), tl.Dropped(), 3+overfill*2-2, 2+overfill*2-2)
	}
	want := map[string]int64{"a 2026-01-02": 4, "a 2026-01-03": 1, "b 2026-01-03": 1, "c0 2026-01-02": 1}
	for _, tk := range tokens {
		if n, ok := want[tk.ClientID+" "+tk.Day]; ok && tk.Count != n {
			t.Errorf("%s's tokens on %s: got %d, want %d", tk.ClientID, tk.Day, tk.Count, n)
		} else if !ok && !strings.HasPrefix(tk.ClientID, "c") {
			t.Errorf("unexpected token row %+v", tk)
		}
	}
	for _, a := range addrs {
		if a.ClientID == "a" && a.Address == "192.0.2.1" && (a.Count != 3 || !a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(t0.Add(24*time.Hour))) {
			t.Errorf("192.0.2.1: got %+v, want 3 from t0 to t0+24h", a)
		}
	}
	if tokens, _ := takeAll(t, tl); len(tokens) != 0 {
		t.Errorf("a second take: got %+v, want nothing", tokens)
	}
}

// TestTakeRestoresUnwritten: a report the writer does not accept goes
// back into the Tally with the clients not yet reported, merged with what
// was counted since the take (tokens by day, addresses by address); what
// no longer fits is dropped and counted.
func TestTakeRestoresUnwritten(t *testing.T) {
	tl := NewTally(1, 2) // holds overfill (4) clients, 2 addresses each
	day2 := t0.Add(24 * time.Hour)
	for _, c := range []string{"c0", "c1", "c2"} {
		tl.Issued(c, "192.0.2.1", t0)
	}
	taken := tl.take(1)
	// Counted while the write runs: the Tally fills up again.
	tl.Issued("c0", "192.0.2.2", day2)
	for _, c := range []string{"c3", "c4", "c5"} {
		tl.Issued(c, "192.0.2.1", day2)
	}
	for range taken {
		break // the write failed
	}
	if tl.Dropped() != 2 {
		t.Errorf("dropped %d, want 2 (c1's and c2's tokens: no room)", tl.Dropped())
	}
	tokens, addrs := takeAll(t, tl)
	var got []string
	for _, u := range tokens {
		got = append(got, fmt.Sprintf("%s %s %d", u.ClientID, u.Day, u.Count))
	}
	for _, a := range addrs {
		got = append(got, fmt.Sprintf("%s %s %d %s..%s", a.ClientID, a.Address, a.Count,
			a.FirstSeen.UTC().Format(time.DateOnly), a.LastSeen.UTC().Format(time.DateOnly)))
	}
	slices.Sort(got)
	want := []string{
		"c0 192.0.2.1 1 2026-01-02..2026-01-02", "c0 192.0.2.2 1 2026-01-03..2026-01-03",
		"c0 2026-01-02 1", "c0 2026-01-03 1",
		"c3 192.0.2.1 1 2026-01-03..2026-01-03", "c3 2026-01-03 1",
		"c4 192.0.2.1 1 2026-01-03..2026-01-03", "c4 2026-01-03 1",
		"c5 192.0.2.1 1 2026-01-03..2026-01-03", "c5 2026-01-03 1",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after the restore (-want +got):\n%s", d)
	}
}

// takeAll is what tl counted, taken in reports of at most 3 clients, as
// rows.
func takeAll(t *testing.T, tl *Tally) (tokens []store.UsageTokens, addrs []store.UsageAddress) {
	t.Helper()
	for r := range tl.take(3) {
		// A client's rows are adjacent.
		if clients := len(slices.CompactFunc(slices.Clone(r.Tokens), func(a, b store.UsageTokens) bool { return a.ClientID == b.ClientID })); clients > 3 {
			t.Fatalf("a report of %d clients, want at most 3", clients)
		}
		tokens, addrs = append(tokens, r.Tokens...), append(addrs, r.Addresses...)
	}
	return tokens, addrs
}

// gather returns the values of the metric name in reg by their labels'
// values, joined with spaces.
func gather(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			v := m.GetCounter().GetValue()
			if m.GetGauge() != nil {
				v = m.GetGauge().GetValue()
			}
			got[strings.Join(labels, " ")] = v
		}
	}
	return got
}

func TestChunkedKeepsUnsent(t *testing.T) {
	r := NewRecorder(10)
	var sent []admin.UsageReport
	calls := 0
	s := NewSender(r, Chunked(func(_ context.Context, rep admin.UsageReport) error {
		calls++
		if calls == 2 {
			return errors.New("server down")
		}
		sent = append(sent, rep)
		return nil
	}, 2), time.Minute, 10, nil)
	for i := range 5 {
		r.Record(fmt.Sprintf("c%d", i), "*", true, "", t0)
	}
	s.Flush(t.Context()) // c0 c1 sent, then a failure: c2 c3 c4 kept
	s.Flush(t.Context())
	var got []string
	for _, rep := range sent {
		for _, c := range rep.Calls {
			got = append(got, c.ClientID)
		}
	}
	if d := cmp.Diff([]string{"c0", "c1", "c2", "c3", "c4"}, got); d != "" {
		t.Errorf("pairs sent, each once (-want +got):\n%s", d)
	}
}

func TestCollectorClientsCapped(t *testing.T) {
	r := NewRecorder(100)
	r.LabelClients(2)
	for _, c := range []string{"a", "b", "c", "a"} {
		r.Record(c, "*", true, "", t0)
	}
	r.Take()
	r.Record("d", "*", false, resource.ReasonInsufficientScope, t0)
	r.Record("", "*", false, resource.ReasonMissingToken, t0) // no client: no client series
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(r, "gatehouse_gateway"))
	got := gather(t, reg, "gatehouse_gateway_client_calls_total")
	want := map[string]float64{"a allowed": 2, "b allowed": 1, "other allowed": 1, "other insufficient_scope": 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("client series, at most 2 clients (-want +got):\n%s", d)
	}
	plain := NewRecorder(100)
	plain.Record("a", "*", true, "", t0)
	reg = prometheus.NewRegistry()
	reg.MustRegister(NewCollector(plain, "gatehouse_gateway"))
	if got := gather(t, reg, "gatehouse_gateway_client_calls_total"); len(got) != 0 {
		t.Errorf("without LabelClients: got client series %v, want none", got)
	}
}

// TestTakeReportsOneAtATime: while a taken Tally is written, report by
// report, what is live is about the Tally's own size — the clients already
// reported are garbage — not the Tally and all its reports at once.
func TestTakeReportsOneAtATime(t *testing.T) {
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	const n = 20_000
	ids := make([]string, n) // the IDs are the token endpoint's, not the Tally's
	for i := range ids {
		ids[i] = fmt.Sprintf("client-%032d", i)
	}
	base := heap()
	tl := NewTally(2*n, 0)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i, id := range ids {
		tl.Issued(id, fmt.Sprintf("2001:db8::%x", i), now)
	}
	counted := heap() - base
	reports, clients := 0, 0
	var writing int64
	for r := range tl.take(500) {
		if reports == n/500/2 { // halfway through the write
			writing = heap() - base
		}
		reports++
		clients += len(r.Tokens)
	}
	if clients != n {
		t.Fatalf("%d clients reported, want %d", clients, n)
	}
	t.Logf("%d bytes counted; %d live halfway through writing them", counted, writing)
	if writing > counted*3/4 {
		t.Errorf("halfway through writing, %d bytes live; want at most 3/4 of the %d counted", writing, counted)
	}
	runtime.KeepAlive(ids)
}

// TestUncountedMetric: what the Tally could not hold is a metric, so that
// an operator can alert on usage that went missing.
func TestUncountedMetric(t *testing.T) {
	s := New(Options{MaxClients: 1, MaxAddresses: 1})
	reg := prometheus.NewRegistry()
	for _, c := range s.Collectors() {
		reg.MustRegister(c)
	}
	for i := range overfill + 2 { // two clients more than an overfilled Tally holds
		s.Tally().Issued(fmt.Sprintf("client-%d", i), "192.0.2.1", t0)
	}
	s.Tally().Issued("client-0", "192.0.2.2", t0) // an address over usage.max_addresses
	if got := gather(t, reg, "gatehouse_usage_uncounted_total")[""]; got != 3 {
		t.Errorf("gatehouse_usage_uncounted_total = %v, want 3", got)
	}
}
