package config

// QuotaConfig is `token.quota`: how many access tokens a client that sets
// no quota of its own is issued at most per minute and per hour, counted
// across every node that shares the store. 0 = no quota.
type QuotaConfig struct {
	PerMinute int `yaml:"per_minute"`
	PerHour   int `yaml:"per_hour"`
}

// ReuseConfig is `token.reuse`: the token reuse window of clients that
// set none of their own, and the per-node cache behind it.
type ReuseConfig struct {
	// MinRemaining: while an access token issued to a client has more than
	// this percentage of its lifetime left, the same request (client,
	// scopes, account, resource, DPoP key) gets it again instead of a new
	// one. 0 = off; at most 99. Clients may set their own.
	MinRemaining int `yaml:"min_remaining"`
	// MaxEntries bounds the tokens each node keeps for reuse; when it is
	// full the oldest entries make room. 0 (only while reuse is off by
	// default): clients that turn reuse on get no cache, so no reuse.
	MaxEntries int `yaml:"max_entries"`
}

// DefaultReuseEntries is token.reuse.max_entries by default: about 2 KiB an
// entry, so at most some 200 MB, reached only by that many distinct
// clients and scopes asking within one token lifetime.
const DefaultReuseEntries = 100_000

func (c *Config) checkQuota(p *problems) {
	q := c.Token.Quota
	if q.PerMinute < 0 || q.PerHour < 0 {
		p.add("token.quota.per_minute and per_hour must be 0 (no quota) or positive, e.g. per_minute: 600")
	}
	if q.PerMinute > 0 && q.PerHour > 0 && q.PerHour < q.PerMinute {
		p.add("token.quota.per_hour (%d) is below per_minute (%d); raise per_hour or lower per_minute", q.PerHour, q.PerMinute)
	}
	r := c.Token.Reuse
	if r.MinRemaining < 0 || r.MinRemaining > 99 {
		p.add("token.reuse.min_remaining is %d; use a percentage from 1 to 99, or 0 for no reuse", r.MinRemaining)
	}
	if r.MaxEntries < 0 || r.MaxEntries == 0 && r.MinRemaining > 0 {
		p.add("token.reuse.max_entries is %d; use at least 1, e.g. %d", r.MaxEntries, DefaultReuseEntries)
	}
}
