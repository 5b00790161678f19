package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestClientMetadataDocumentsConfig(t *testing.T) {
	c := config.Default()
	if c.ClientMetadataDocuments.Enabled || c.ClientFetch.AllowLoopback || c.ClientFetch.AllowPrivateAddresses {
		t.Errorf("defaults %+v %+v: want everything off", c.ClientMetadataDocuments, c.ClientFetch)
	}
	if lo, hi := c.ClientMetadataDocuments.CacheTTLs(); lo != 5*time.Minute || hi != 24*time.Hour {
		t.Errorf("default cache lifetimes %s..%s, want 5m..24h", lo, hi)
	}
	if got := c.ClientFetch.FetchTimeout(); got != 5*time.Second {
		t.Errorf("default fetch timeout %s, want 5s", got)
	}
	for _, tc := range []struct {
		mod  func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.ClientFetch.Timeout = config.Duration(2 * time.Minute) }, "client_fetch.timeout is 2m"},
		{func(c *config.Config) { c.ClientMetadataDocuments.MinCacheTTL = config.Duration(time.Millisecond) }, "min_cache_ttl is 1ms"},
		{func(c *config.Config) { c.ClientMetadataDocuments.MaxCacheTTL = config.Duration(time.Minute) }, "max_cache_ttl (1m) is below min_cache_ttl (5m)"},
	} {
		c := config.Default()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want a problem saying %q", err, tc.want)
		}
	}
}
