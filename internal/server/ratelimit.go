package server

import (
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
)

// newAuthLimiter limits failed client authentications per client ID and per
// source address (see ratelimit.Guard). A client that authenticated from an
// address within RememberSuccess passes from it even while its ID or the
// address is over the limit; anyone else over the limit gets 429 before the
// secret is checked.
func newAuthLimiter(o Options) *ratelimit.Guard {
	return ratelimit.NewGuard(ratelimit.GuardOptions{
		PerSubject: o.FailuresPerClient, PerAddress: o.FailuresPerAddress, Burst: o.FailureBurst,
		Remember: o.RememberSuccess,
	})
}

// tooManyRequests is the 429 for a wait from the limiter.
func tooManyRequests(wait time.Duration) error {
	return oauth.TooManyRequests(int(wait / time.Second))
}
