package config

import "time"

// OAuthConfig is the `oauth:` section: the authorization code grant and
// refresh tokens.
type OAuthConfig struct {
	// RequirePKCE makes PKCE (S256) mandatory for every client using the
	// authorization code grant; public clients must always use it.
	// Unset = true.
	RequirePKCE *bool `yaml:"require_pkce"`
	// RefreshIdleTTL: a refresh token unused this long expires. 0 = 14d.
	RefreshIdleTTL Duration `yaml:"refresh_idle_ttl"`
	// RefreshAbsoluteTTL: a refresh token family ends this long after the
	// authorization that started it, however often it is used. 0 = 90d.
	RefreshAbsoluteTTL Duration `yaml:"refresh_absolute_ttl"`
}

// Defaults of the oauth section.
const (
	DefaultRefreshIdleTTL     = 14 * 24 * time.Hour
	DefaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
)

// PKCERequired reports whether PKCE is required of every client.
func (o OAuthConfig) PKCERequired() bool { return o.RequirePKCE == nil || *o.RequirePKCE }

// RefreshLifetimes returns the idle and absolute refresh token lifetimes,
// with the defaults for unset values.
func (o OAuthConfig) RefreshLifetimes() (idle, absolute time.Duration) {
	idle, absolute = time.Duration(o.RefreshIdleTTL), time.Duration(o.RefreshAbsoluteTTL)
	if idle == 0 {
		idle = DefaultRefreshIdleTTL
	}
	if absolute == 0 {
		absolute = DefaultRefreshAbsoluteTTL
	}
	return idle, absolute
}

// checkOAuth checks the refresh token lifetimes.
func (c *Config) checkOAuth(p *problems) {
	o := c.OAuth
	if o.RefreshIdleTTL < 0 || o.RefreshIdleTTL > 0 && o.RefreshIdleTTL < Duration(time.Minute) {
		p.add("oauth.refresh_idle_ttl is %s; use at least 1m, e.g. 14d (0 = 14d)", o.RefreshIdleTTL)
	}
	if o.RefreshAbsoluteTTL < 0 || o.RefreshAbsoluteTTL > 0 && o.RefreshAbsoluteTTL < Duration(time.Minute) {
		p.add("oauth.refresh_absolute_ttl is %s; use at least 1m, e.g. 90d (0 = 90d)", o.RefreshAbsoluteTTL)
	}
	if idle, abs := o.RefreshLifetimes(); idle > abs {
		p.add("oauth.refresh_idle_ttl (%s) exceeds oauth.refresh_absolute_ttl (%s); lower the idle lifetime or raise the absolute one", Duration(idle), Duration(abs))
	}
}
