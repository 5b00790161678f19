package config

import "time"

// CacheConfig is the `cache:` section: how a node's in-memory client cache
// stays in step with the shared store.
type CacheConfig struct {
	// MaxStaleness is how long a node may go without confirming its cache
	// against the store's change feed before it refuses requests that
	// depend on cached clients (503 temporarily_unavailable) rather than
	// act on data that may be stale, such as a disabled client or a secret
	// rotated away. 0 = never refuse: keep serving from the cache however
	// long the store is unreachable.
	MaxStaleness Duration `yaml:"max_staleness"`
	// MaxClients bounds the clients a node keeps in memory (about 1 KB
	// each; a client with a large JWKS or many redirect URIs counts once
	// for each 2 KiB). Past it the least recently used are dropped and
	// loaded from the store again when next used. 0 = 25,000.
	MaxClients int `yaml:"max_clients"`
}

// DefaultCacheMaxClients is cache.max_clients' default.
const DefaultCacheMaxClients = 25_000

// The bounds of cache.max_clients.
const minCacheMaxClients, maxCacheMaxClients = 100, 100_000_000

// minMaxStaleness is the smallest cache.max_staleness accepted other than 0:
// twice the interval at which the change feed is polled, so that a healthy
// node never refuses between two polls.
const minMaxStaleness = 2 * time.Second

func (c *Config) checkCache(p *problems) {
	ms := c.Cache.MaxStaleness
	if ms != 0 && ms < Duration(minMaxStaleness) {
		p.add("cache.max_staleness is %s; use at least %s (the change feed is read every second), or 0 to never refuse requests when the store is unreachable",
			ms, Duration(minMaxStaleness))
	}
	if n := c.Cache.MaxClients; n != 0 && (n < minCacheMaxClients || n > maxCacheMaxClients) {
		p.add("cache.max_clients is %d; use a number from %d to %d (about 1 KB of memory each), or 0 for %d",
			n, minCacheMaxClients, maxCacheMaxClients, DefaultCacheMaxClients)
	}
}
