package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Usage per credential: what gateways report (POST /usage) and what the
// server keeps of a client's use (GET /clients/{id}/usage).

// UsageReport is a batch of what a gateway decided, per client and
// endpoint pattern, since its last report ([API.ReportUsage]).
type UsageReport struct {
	Calls []UsageCalls `json:"calls"`
}

// UsageCalls counts one client's calls to one endpoint pattern: the
// catalog pattern that allowed a call, or that matched a refused one
// ("unmatched" if none did); never a raw path.
type UsageCalls struct {
	ClientID string           `json:"client_id"`
	Pattern  string           `json:"pattern"`
	Allowed  int64            `json:"allowed"`
	Denied   map[string]int64 `json:"denied,omitempty"` // by reason, e.g. insufficient_scope
	LastSeen time.Time        `json:"last_seen"`
}

// ClientUsage is what the server keeps of a client's use
// ([API.ClientUsage]).
type ClientUsage struct {
	ClientID string `json:"client_id"`
	// Since is the first day (UTC, YYYY-MM-DD) the counts cover.
	Since string `json:"since"`
	// Tokens are the access tokens issued per day, newest first; days
	// without any are left out.
	Tokens []UsageDay `json:"tokens"`
	// Calls are the calls through gateways per endpoint pattern over the
	// period, the most used first.
	Calls []PatternUsage `json:"calls"`
	// Denials are the calls refused over the period, by reason.
	Denials map[string]int64 `json:"denials"`
	// Secrets are the client's secrets and when each was last used.
	Secrets []SecretUse `json:"secrets"`
	// Addresses are the source addresses the client got tokens from, the
	// most frequent first (a bounded top).
	Addresses []AddressUse `json:"addresses"`
}

// UsageDay is a count on one day (UTC, YYYY-MM-DD).
type UsageDay struct {
	Day   string `json:"day"`
	Count int64  `json:"count"`
}

// PatternUsage counts the calls to one endpoint pattern.
type PatternUsage struct {
	Pattern  string           `json:"pattern"`
	Allowed  int64            `json:"allowed"`
	Denied   map[string]int64 `json:"denied,omitempty"`
	LastSeen time.Time        `json:"last_seen"`
}

// SecretUse is when a secret was last used.
type SecretUse struct {
	ID         string     `json:"id"`
	Hint       string     `json:"hint"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"` // nil: never
}

// AddressUse is a source address a client got tokens from.
type AddressUse struct {
	Address   string    `json:"address"`
	Count     int64     `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// ClientUsage returns the client's usage over the last days days, today
// included (GET /clients/{id}/usage?days=N); days 0 is the server's default.
func (a *API) ClientUsage(ctx context.Context, id string, days int) (ClientUsage, error) {
	seg, err := segment("client", id)
	if err != nil {
		return ClientUsage{}, err
	}
	var q url.Values
	if days > 0 {
		q = url.Values{"days": {strconv.Itoa(days)}}
	}
	var u ClientUsage
	_, err = a.do(ctx, request{method: http.MethodGet, path: "/clients" + seg + "/usage", query: q}, &u)
	return u, err
}

// ReportUsage sends a gateway's usage report (POST /usage), with a token
// of the [ScopeUsage] scope (or [ScopeAdmin]).
func (a *API) ReportUsage(ctx context.Context, r UsageReport) error {
	b, err := jsonBody(r)
	if err != nil {
		return err
	}
	_, err = a.do(ctx, request{method: http.MethodPost, path: "/usage", body: b, ctype: "application/json"}, nil)
	return err
}
