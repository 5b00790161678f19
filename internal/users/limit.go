package users

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds one token bucket per key (a username or an address).
// Only failed logins spend allowance.
type limiterSet struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiterSet(perMinute, burst int) *limiterSet {
	l := rate.Inf
	if perMinute > 0 {
		l = rate.Limit(float64(perMinute) / 60)
	}
	return &limiterSet{limit: l, burst: burst, max: 100_000}
}

// exhausted reports whether key has no allowance left, and if so the wait
// until it has.
func (s *limiterSet) exhausted(key string, now time.Time) (time.Duration, bool) {
	if s.limit == rate.Inf {
		return 0, false
	}
	s.mu.Lock()
	lim := s.m[key]
	s.mu.Unlock()
	if lim == nil {
		return 0, false
	}
	if t := lim.TokensAt(now); t < 1 {
		return s.wait(t), true
	}
	return 0, false
}

// spend records one failure for key.
func (s *limiterSet) spend(key string, now time.Time) {
	if s.limit == rate.Inf {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*rate.Limiter)
	}
	lim := s.m[key]
	if lim == nil {
		if len(s.m) >= s.max {
			s.pruneLocked(now)
			if len(s.m) >= s.max {
				return
			}
		}
		lim = rate.NewLimiter(s.limit, s.burst)
		s.m[key] = lim
	}
	lim.AllowN(now, 1)
}

func (s *limiterSet) wait(tokens float64) time.Duration {
	secs := math.Ceil((1 - tokens) / float64(s.limit))
	return time.Duration(max(1, secs)) * time.Second
}

func (s *limiterSet) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
}

func (s *limiterSet) pruneLocked(now time.Time) {
	for k, lim := range s.m {
		if lim.TokensAt(now) >= float64(s.burst) {
			delete(s.m, k)
		}
	}
}
