package resource

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/scope"
)

// A Call is what Config.ObserveCall learns of one request the guard
// decided on: enough to count a client's calls per endpoint pattern, never
// the raw path.
type Call struct {
	Allowed bool
	// Reason is "" when allowed, else one of the Reason constants.
	Reason string
	// ClientID is the client_id of the verified token, also of one refused
	// as revoked (its signature and claims were verified); "" when no token
	// was verified (a missing, malformed, badly signed or expired one, a
	// public call): an unverified client_id would let anyone charge calls
	// to any client.
	ClientID string
	// Pattern is the catalog pattern of the rule that allowed the call
	// (scope.Catalog.AllowedBy: the most specific one), or for a refusal
	// the most specific pattern that matches the path and names the method
	// (scope.Catalog.Matched); "" if none, or the path could not be
	// matched.
	Pattern string
	// At is when the guard began deciding.
	At time.Time
}

// allows is catalog.Allows, and with Config.ObserveCall also the pattern
// that allowed the call, from the same walk of the catalog.
func (g *Guard) allows(s scope.Set, method string, segs []string) (pattern string, ok bool) {
	if g.cfg.ObserveCall == nil {
		return "", g.catalog.Allows(s, method, segs)
	}
	return g.catalog.AllowedBy(s, method, segs)
}

// observeRefused reports a refused call to Config.ObserveCall. c is the
// verified token's claims, if any; segs the split path, if done.
func (g *Guard) observeRefused(r *http.Request, f *failure, c *Claims, segs []string) {
	call := Call{Reason: f.reason, At: g.now()}
	if c != nil {
		call.ClientID = c.ClientID
	}
	if segs == nil {
		if rel, ok := g.relPath(r.URL.EscapedPath()); ok {
			segs, _ = g.paths.Split(rel)
		}
	}
	if segs != nil {
		call.Pattern = g.catalog.Matched(r.Method, segs)
	}
	g.cfg.ObserveCall(r, call)
}
