// Package ratelimit limits failures (wrong secrets, wrong passwords) per
// key — a client ID, a username, a source address — with one token bucket
// per key. Only failures spend allowance. [Guard] is what client
// authentication and console logins use: it refuses attempts over the
// limit before any credential is checked, and lets through the (subject,
// address) pairs that recently succeeded, so a legitimate caller is not
// locked out by someone else's guessing.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxKeys bounds the buckets kept, so guessing keys cannot grow memory
// without limit; past it, new keys go unlimited until old ones refill.
const maxKeys = 100_000

// Failures holds one token bucket per key. It is safe for concurrent use.
type Failures struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewFailures allows perMinute failures a minute per key after a burst;
// perMinute <= 0 means no limit.
func NewFailures(perMinute, burst int) *Failures {
	l := rate.Inf
	if perMinute > 0 {
		l = rate.Limit(float64(perMinute) / 60)
	}
	return &Failures{limit: l, burst: burst}
}

// Exhausted reports whether key has no allowance left, and if so how long
// until it has (whole seconds, at least one).
func (f *Failures) Exhausted(key string, now time.Time) (time.Duration, bool) {
	if f.limit == rate.Inf {
		return 0, false
	}
	f.mu.Lock()
	lim := f.m[key]
	f.mu.Unlock()
	if lim == nil {
		return 0, false
	}
	if t := lim.TokensAt(now); t < 1 {
		return waitFor(f.limit, t), true
	}
	return 0, false
}

// Spend records one failure for key and reports whether it went over the
// allowance, and if so how long until there is allowance again.
func (f *Failures) Spend(key string, now time.Time) (time.Duration, bool) {
	if f.limit == rate.Inf {
		return 0, false
	}
	f.mu.Lock()
	if f.m == nil {
		f.m = make(map[string]*rate.Limiter)
	}
	lim := f.m[key]
	if lim == nil {
		if len(f.m) >= maxKeys {
			f.pruneLocked(now)
		}
		if len(f.m) >= maxKeys {
			f.mu.Unlock()
			return 0, false
		}
		lim = rate.NewLimiter(f.limit, f.burst)
		f.m[key] = lim
	}
	f.mu.Unlock()
	if lim.AllowN(now, 1) {
		return 0, false
	}
	return waitFor(f.limit, lim.TokensAt(now)), true
}

// Prune drops the buckets that are back at full allowance.
func (f *Failures) Prune(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pruneLocked(now)
}

func (f *Failures) pruneLocked(now time.Time) {
	for k, lim := range f.m {
		if lim.TokensAt(now) >= float64(f.burst) {
			delete(f.m, k)
		}
	}
}

// waitFor is the time until one unit of allowance is back at limit, in
// whole seconds.
func waitFor(limit rate.Limit, tokens float64) time.Duration {
	secs := math.Ceil((1 - tokens) / float64(limit))
	return time.Duration(max(1, secs)) * time.Second
}
