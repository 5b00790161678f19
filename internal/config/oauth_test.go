package config

import (
	"strings"
	"testing"
	"time"
)

func TestOAuthConfig(t *testing.T) {
	c := Default()
	if !c.OAuth.PKCERequired() {
		t.Error("PKCE is not required by default")
	}
	if idle, abs := c.OAuth.RefreshLifetimes(); idle != 14*24*time.Hour || abs != 90*24*time.Hour {
		t.Errorf("default refresh lifetimes %s, %s; want 14d, 90d", idle, abs)
	}
	off := false
	c.OAuth = OAuthConfig{RequirePKCE: &off, RefreshIdleTTL: Duration(100 * 24 * time.Hour)}
	if c.OAuth.PKCERequired() {
		t.Error("require_pkce: false still requires PKCE")
	}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "oauth.refresh_idle_ttl (100d) exceeds oauth.refresh_absolute_ttl (90d)") {
		t.Errorf("got %v, want the idle lifetime reported as exceeding the absolute one", err)
	}
}
