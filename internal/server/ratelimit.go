package server

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// authLimiter limits failed client authentications per client ID and per
// source address. Only failures consume allowance, so a client that
// authenticates correctly is never slowed: while a client ID is over its
// limit, a request with the right secret still succeeds and a wrong one gets
// 429. An address over its limit is refused before any check.
type authLimiter struct {
	perClient, perAddr limiterSet
}

func newAuthLimiter(clientPerMinute, addrPerMinute, burst int) *authLimiter {
	const maxKeys = 100_000
	return &authLimiter{
		perClient: limiterSet{limit: perMinute(clientPerMinute), burst: burst, max: maxKeys},
		perAddr:   limiterSet{limit: perMinute(addrPerMinute), burst: burst, max: maxKeys},
	}
}

func perMinute(n int) rate.Limit {
	if n <= 0 {
		return rate.Inf
	}
	return rate.Limit(float64(n) / 60)
}

// addrBlocked reports whether addr has no failure allowance left, and if so
// after how many seconds it will have.
func (l *authLimiter) addrBlocked(addr string, now time.Time) (retryAfter int, blocked bool) {
	return l.perAddr.exhausted(addr, now)
}

// failure records a failed authentication for clientID from addr and reports
// whether the failure exceeded either allowance.
func (l *authLimiter) failure(clientID, addr string, now time.Time) (retryAfter int, limited bool) {
	ra1, lim1 := l.perAddr.spend(addr, now)
	ra2, lim2 := 0, false
	if clientID != "" {
		ra2, lim2 = l.perClient.spend(clientID, now)
	}
	return max(ra1, ra2), lim1 || lim2
}

// prune drops limiters that are back at full allowance.
func (l *authLimiter) prune(now time.Time) {
	l.perClient.prune(now)
	l.perAddr.prune(now)
}

type limiterSet struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (s *limiterSet) exhausted(key string, now time.Time) (int, bool) {
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

func (s *limiterSet) spend(key string, now time.Time) (int, bool) {
	if s.limit == rate.Inf {
		return 0, false
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]*rate.Limiter)
	}
	lim := s.m[key]
	if lim == nil {
		if len(s.m) >= s.max {
			s.mu.Unlock()
			return 0, false
		}
		lim = rate.NewLimiter(s.limit, s.burst)
		s.m[key] = lim
	}
	s.mu.Unlock()
	if lim.AllowN(now, 1) {
		return 0, false
	}
	return s.wait(lim.TokensAt(now)), true
}

// wait is the number of whole seconds until one unit of allowance is back.
func (s *limiterSet) wait(tokens float64) int {
	secs := (1 - tokens) / float64(s.limit)
	return max(1, int(math.Ceil(secs)))
}

func (s *limiterSet) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, lim := range s.m {
		if lim.TokensAt(now) >= float64(s.burst) {
			delete(s.m, k)
		}
	}
}
