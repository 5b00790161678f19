package config

import (
	"slices"
	"strings"
	"time"
)

// RegistrationConfig is the `registration:` section: dynamic client
// registration (RFC 7591) at /oauth/register and the clients' management
// of their registrations (RFC 7592). See internal/registration.
type RegistrationConfig struct {
	// Policy is off (the default: no endpoint, none advertised),
	// initial_access_token (the caller presents a token made with
	// `gatehouse registration token create`) or open (anyone may register
	// a public client for the authorization code grant with PKCE, https or
	// loopback redirect URIs and self_service scopes).
	Policy string `yaml:"policy"`
	// GrantTypes are the grant types a client registered with an initial
	// access token may have: of authorization_code, refresh_token and
	// client_credentials (the default: all three).
	GrantTypes []string `yaml:"grant_types"`
	// UnusedTTL: an open registration that no token was issued to for this
	// long (since it registered, or since its last token) is deleted; 0 =
	// never. Default 30d.
	UnusedTTL Duration `yaml:"unused_ttl"`
	// PerAddress open registrations a minute are allowed per source
	// address, after a burst of Burst; 0 = no limit.
	PerAddress int `yaml:"per_address"`
	Burst      int `yaml:"burst"`
}

// Registration policies.
var registrationPolicies = []string{"off", "initial_access_token", "open"}

var registrationGrants = []string{"authorization_code", "refresh_token", "client_credentials"}

func defaultRegistration() RegistrationConfig {
	return RegistrationConfig{Policy: "off", UnusedTTL: Duration(30 * 24 * time.Hour), PerAddress: 2, Burst: 10}
}

func (c *Config) checkRegistration(p *problems) {
	r := &c.Registration
	r.Policy = strings.ToLower(strings.TrimSpace(r.Policy))
	if r.Policy == "" || r.Policy == "false" { // YAML 1.1's off, quoted or not
		r.Policy = "off"
	}
	if !slices.Contains(registrationPolicies, r.Policy) {
		p.add("registration.policy is %q; use off, initial_access_token or open", r.Policy)
	}
	for _, g := range r.GrantTypes {
		if !slices.Contains(registrationGrants, g) {
			p.add("registration.grant_types: %q is not a grant type clients may register; use authorization_code, refresh_token or client_credentials", g)
		}
	}
	if r.UnusedTTL < 0 || r.UnusedTTL > 0 && r.UnusedTTL < Duration(time.Hour) {
		p.add("registration.unused_ttl is %s; use at least 1h, e.g. 30d, or 0 to keep unused open registrations", r.UnusedTTL)
	}
	if r.PerAddress < 0 {
		p.add("registration.per_address is %d; use a number of registrations per minute, or 0 for no limit", r.PerAddress)
	}
	if r.Burst < 0 || r.Burst == 0 && r.PerAddress > 0 {
		p.add("registration.burst is %d; it must be at least 1 while registration.per_address is set", r.Burst)
	}
}
