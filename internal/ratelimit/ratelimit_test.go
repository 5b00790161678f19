package ratelimit

import (
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	f := NewFailures(6, 2) // one a 10 s after a burst of 2
	for i := 0; i < 2; i++ {
		if _, over := f.Spend("a", now); over {
			t.Fatalf("failure %d within the burst: got over the limit", i+1)
		}
	}
	if _, ex := f.Exhausted("a", now); !ex {
		t.Fatal("after the burst: got allowance left, want exhausted")
	}
	wait, over := f.Spend("a", now)
	if !over || wait != 10*time.Second {
		t.Errorf("third failure: got (%v, %v), want (10s, true)", wait, over)
	}
	if _, ex := f.Exhausted("b", now); ex {
		t.Error("another key is exhausted by a's failures")
	}
	if _, ex := f.Exhausted("a", now.Add(21*time.Second)); ex {
		t.Error("after the refill time: still exhausted")
	}
	f.Prune(now.Add(time.Hour))
	if len(f.m) != 0 {
		t.Errorf("after a refilled hour: %d buckets kept, want 0", len(f.m))
	}
	unlimited := NewFailures(0, 1)
	for i := 0; i < 100; i++ {
		if _, over := unlimited.Spend("a", now); over {
			t.Fatal("perMinute 0: got limited, want no limit")
		}
	}
}

// BenchmarkFailuresExhausted is the limiter's cost per request before
// Guard: one look at the address's bucket, from all CPUs at once. Compare
// BenchmarkGuardKnownPair.
func BenchmarkFailuresExhausted(b *testing.B) {
	now := time.Now()
	f := NewFailures(60, 10)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ex := f.Exhausted("203.0.113.77", now); ex {
				b.Fatal("exhausted")
			}
		}
	})
}
