package config

import "time"

// UsageConfig is the `usage:` section: usage per credential. The gateway
// (embedded or standalone) counts calls per client and endpoint pattern and
// reports them every Interval; the token endpoint counts tokens and source
// addresses in memory, written every Interval.
type UsageConfig struct {
	// Enabled records usage; default true. Off: no usage is recorded,
	// reported or shown, and no new-address audit events are written.
	Enabled bool `yaml:"enabled"`
	// Interval is how often gateways report and the server writes what the
	// token endpoint counted; default 60s.
	Interval Duration `yaml:"interval"`
	// MaxKeys bounds the (client, pattern) pairs a gateway holds between
	// two reports; calls of further pairs count under the pattern "other".
	// Default 10000.
	MaxKeys int `yaml:"max_keys"`
	// MaxAddresses bounds the source addresses kept per client (the most
	// frequent); default 20.
	MaxAddresses int `yaml:"max_addresses"`
	// MetricsClients, if positive, also labels the gateway's call metrics
	// by client (gatehouse_gateway_client_calls_total) for at most this
	// many clients (the first counted; the others as "other"); default 0:
	// by pattern only.
	MetricsClients int `yaml:"metrics_clients"`
}

func defaultUsage() UsageConfig {
	return UsageConfig{Enabled: true, Interval: Duration(time.Minute), MaxKeys: 10000, MaxAddresses: 20}
}

func (c *Config) checkUsage(p *problems) {
	u := c.Usage
	if !u.Enabled {
		return
	}
	if u.Interval < Duration(time.Second) {
		p.add("usage.interval is %s; use at least 1s, e.g. 60s", u.Interval)
	}
	if u.MaxKeys < 1 || u.MaxKeys > 10_000_000 {
		p.add("usage.max_keys is %d; use 1 to 10000000, e.g. 10000", u.MaxKeys)
	}
	if u.MetricsClients < 0 || u.MetricsClients > 10000 {
		p.add("usage.metrics_clients is %d; use 0 (no client label) to 10000, e.g. 100", u.MetricsClients)
	}
	if u.MaxAddresses < 1 || u.MaxAddresses > 1000 {
		p.add("usage.max_addresses is %d; use 1 to 1000, e.g. 20", u.MaxAddresses)
	}
}
