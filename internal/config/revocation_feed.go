package config

import (
	"strings"

	"github.com/gatehouse/gatehouse/scope"
)

// RevocationFeedConfig is the `revocation_feed:` section: the feed of
// revoked, unexpired access-token IDs that resource servers poll
// (GET /oauth/revocations).
type RevocationFeedConfig struct {
	// RequireScope, if set, opens the feed only to clients allowed this
	// scope (e.g. gatehouse:revocations). It must not be a scope of the
	// catalog; `clients create --scopes` accepts it all the same. "" = the
	// feed is open: it holds only opaque token IDs and expiry times.
	RequireScope string `yaml:"require_scope"`
}

// checkRevocationFeed checks that revocation_feed.require_scope is a single
// scope token. Whether it collides with a catalog scope is checked where
// the catalog is loaded.
func (c *Config) checkRevocationFeed(p *problems) {
	sc := c.RevocationFeed.RequireScope
	if sc == "" {
		return
	}
	const fix = "use one scope name such as gatehouse:revocations, or leave it empty for an open feed"
	toks, err := scope.Split(sc)
	switch {
	case err != nil:
		p.add("revocation_feed.require_scope %q is not a scope name (%v); %s", sc, err, fix)
	case len(toks) != 1 || strings.Contains(sc, " "):
		p.add("revocation_feed.require_scope %q names several scopes; %s", sc, fix)
	case strings.HasPrefix(sc, scope.AccountPrefix):
		p.add("revocation_feed.require_scope %q: the %q prefix is reserved for account-restricted tokens; %s", sc, scope.AccountPrefix, fix)
	}
}
