package server

import (
	"time"

	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// authLimiter limits failed client authentications per client ID and per
// source address. Only failures consume allowance, so a client that
// authenticates correctly is never slowed: while a client ID is over its
// limit, a request with the right secret still succeeds and a wrong one gets
// 429. An address over its limit is refused before any check.
type authLimiter struct {
	perClient, perAddr *ratelimit.Failures
}

func newAuthLimiter(clientPerMinute, addrPerMinute, burst int) *authLimiter {
	return &authLimiter{
		perClient: ratelimit.NewFailures(clientPerMinute, burst),
		perAddr:   ratelimit.NewFailures(addrPerMinute, burst),
	}
}

// addrBlocked reports whether addr has no failure allowance left, and if so
// after how many seconds it will have.
func (l *authLimiter) addrBlocked(addr string, now time.Time) (retryAfter int, blocked bool) {
	wait, blocked := l.perAddr.Exhausted(addr, now)
	return int(wait / time.Second), blocked
}

// failure records a failed authentication for clientID from addr and reports
// whether the failure exceeded either allowance.
func (l *authLimiter) failure(clientID, addr string, now time.Time) (retryAfter int, limited bool) {
	w1, lim1 := l.perAddr.Spend(addr, now)
	var w2 time.Duration
	var lim2 bool
	if clientID != "" {
		w2, lim2 = l.perClient.Spend(clientID, now)
	}
	return int(max(w1, w2) / time.Second), lim1 || lim2
}

// prune drops limiters that are back at full allowance.
func (l *authLimiter) prune(now time.Time) {
	l.perClient.Prune(now)
	l.perAddr.Prune(now)
}
