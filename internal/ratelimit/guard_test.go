package ratelimit

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// try is one authentication against g: refused before the check, or the
// credential checked with the given outcome. It reports whether the
// credential was checked and, if so, whether the outcome went over a limit.
func try(g *Guard, subject, addr string, now time.Time, right bool) (checked, over bool) {
	a, _, ok := g.Check(subject, addr, now)
	if !ok {
		return false, false
	}
	if right {
		a.Success()
		return true, false
	}
	_, over = a.Failure()
	return true, over
}

func TestGuard(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	g := NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 3, Remember: 24 * time.Hour})

	// The legitimate client has authenticated from its address before.
	if checked, _ := try(g, "client", "10.0.0.1", now, true); !checked {
		t.Fatal("first attempt: refused, want checked")
	}
	// An attacker elsewhere exhausts the client's allowance...
	for i := 0; i < 3; i++ {
		try(g, "client", "192.0.2.66", now, false)
	}
	// ...after which their guesses are refused without being checked.
	a, wait, ok := g.Check("client", "192.0.2.66", now)
	if ok {
		a.Failure()
		t.Fatal("attacker over the client's limit: got checked, want refused before the check")
	}
	if wait != 10*time.Second {
		t.Errorf("Retry-After for the attacker: got %v, want 10s", wait)
	}
	// Even a right secret from a new address waits: nothing is checked.
	if checked, _ := try(g, "client", "198.51.100.1", now, true); checked {
		t.Error("unknown address over the client's limit: got checked, want refused")
	}
	// The pair that succeeded before is never slowed.
	for i := 0; i < 100; i++ {
		if checked, _ := try(g, "client", "10.0.0.1", now.Add(time.Duration(i)*time.Second), true); !checked {
			t.Fatalf("known pair, attempt %d: refused, want checked", i)
		}
	}

	// An address over its limit: a known pair behind it still passes, an
	// unknown one does not.
	g = NewGuard(GuardOptions{PerSubject: 1000, PerAddress: 6, Burst: 3, Remember: 24 * time.Hour})
	try(g, "alice", "203.0.113.5", now, true)
	for i := 0; i < 5; i++ {
		try(g, "guess"+strconv.Itoa(i), "203.0.113.5", now, false)
	}
	if checked, _ := try(g, "bob", "203.0.113.5", now, true); checked {
		t.Error("unknown pair at an exhausted address: got checked, want refused")
	}
	if checked, _ := try(g, "alice", "203.0.113.5", now, true); !checked {
		t.Error("known pair at an exhausted address: refused, want checked")
	}

	// A known pair's failures count against the pair alone, at the
	// subject's rate: it cannot guess faster than anyone else, and it
	// does not lock the subject out elsewhere.
	g = NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 3, Remember: 24 * time.Hour})
	try(g, "client", "10.0.0.1", now, true)
	checks := 0
	for i := 0; i < 20; i++ {
		if checked, _ := try(g, "client", "10.0.0.1", now, false); checked {
			checks++
		}
	}
	if checks != 3 {
		t.Errorf("known pair guessing: %d of 20 checked, want the burst of 3", checks)
	}
	if checked, _ := try(g, "client", "10.0.0.2", now, true); !checked {
		t.Error("another address after the known pair's failures: refused, want checked")
	}

	// A pair is forgotten after the remembered period without success.
	g = NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 1, Remember: time.Hour})
	try(g, "client", "10.0.0.1", now, true)
	later := now.Add(time.Hour)
	try(g, "client", "192.0.2.66", later, false)
	if checked, _ := try(g, "client", "10.0.0.1", later, true); checked {
		t.Error("pair after the remembered period: got checked, want refused like any other")
	}
	g.Prune(later)
	if n := g.pairs.len(); n != 0 {
		t.Errorf("after pruning: %d pairs remembered, want 0", n)
	}

	// Remember < 0: nothing is remembered.
	g = NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 1, Remember: -1})
	try(g, "client", "10.0.0.1", now, true)
	try(g, "client", "192.0.2.66", now, false)
	if checked, _ := try(g, "client", "10.0.0.1", now, true); checked {
		t.Error("Remember -1: a past success still passes the limit")
	}
}

func TestGuardPairsBounded(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	g := NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 3, Remember: 24 * time.Hour})
	for i := 0; i < 2*maxPairs; i++ {
		try(g, "client", strconv.Itoa(i), now.Add(time.Duration(i)*time.Millisecond), true)
	}
	if n := g.pairs.len(); n > maxPairs {
		t.Errorf("after %d distinct successes: %d pairs kept, want at most %d", 2*maxPairs, n, maxPairs)
	}
	// The most recent ones are kept.
	last := strconv.Itoa(2*maxPairs - 1)
	if _, ok := g.pairs.get(g.pairs.id("client", last)); !ok {
		t.Error("the most recent pair was evicted")
	}
}

// BenchmarkGuardKnownPair is the cost a successful, remembered client adds
// to each request, from all CPUs at once.
func BenchmarkGuardKnownPair(b *testing.B) {
	now := time.Now()
	g := NewGuard(GuardOptions{PerSubject: 30, PerAddress: 60, Burst: 10, Remember: 24 * time.Hour})
	try(g, "3f1c0e9a6b2d4c8e7f5a1b3c", "203.0.113.77", now, true)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, _, ok := g.Check("3f1c0e9a6b2d4c8e7f5a1b3c", "203.0.113.77", now)
			if !ok {
				b.Fatal("refused")
			}
			a.Success()
		}
	})
}

// TestGuardConcurrent exercises every path at once for the race detector.
func TestGuardConcurrent(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	g := NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 3, Remember: time.Minute})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				at := now.Add(time.Duration(i) * 100 * time.Millisecond)
				try(g, "c"+strconv.Itoa(i%7), "a"+strconv.Itoa((i+w)%5), at, (i+w)%3 == 0)
				if i%500 == 0 {
					g.Prune(at)
				}
			}
		}()
	}
	wg.Wait()
}

// TestGuardPairMemory: a remembered pair holds a hash, not the strings,
// and the pairs' maps are made anew as pairs come and go, so a full pair
// table stays a few megabytes however long client IDs are and however many
// pairs it has seen.
func TestGuardPairMemory(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := NewGuard(GuardOptions{PerSubject: 6, PerAddress: 60, Burst: 3, Remember: 24 * time.Hour})
	for i := range 10 * maxPairs { // each pair new: evictions all along
		try(g, fmt.Sprintf("client-%032d", i), fmt.Sprintf("2001:db8::%x", i), now.Add(time.Duration(i)*time.Millisecond), true)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := g.pairs.len()
	if n < maxPairs/2 || n > maxPairs {
		t.Fatalf("%d pairs remembered, want between %d and %d", n, maxPairs/2, maxPairs)
	}
	perPair := float64(after.HeapAlloc-before.HeapAlloc) / float64(maxPairs)
	t.Logf("%.0f bytes a remembered pair (of %d), %d pairs", perPair, maxPairs, n)
	if perPair > 80 {
		t.Errorf("%.0f bytes a remembered pair, want at most 80", perPair)
	}
	runtime.KeepAlive(g)
}
