package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/resource"
)

// GatewayConfig is the `gateway:` section: the enforcing reverse proxy run
// inside serve, on its own address, with the server's issuer and scope
// catalog. `gatehouse gateway` runs the same proxy on its own from the same
// type, filled from its flags and GATEHOUSE_GATEWAY_* (see [LoadGateway]),
// with the same checks.
type GatewayConfig struct {
	Enabled bool   `yaml:"enabled"`
	Addr    string `yaml:"addr"` // listen address; "" = 127.0.0.1:8081 when enabled
	// PublicURL is where clients reach the gateway, e.g.
	// https://api.example.com: the API reference (/docs) sends "Try it"
	// calls there, with the base path appended. "" = http://<addr> when
	// the gateway is enabled; with the gateway disabled (run on its own
	// with `gatehouse gateway`), set it to send calls there, or leave it
	// empty to keep the OpenAPI document's servers.
	PublicURL string `yaml:"public_url"`
	// Resource is the API's resource identifier (RFC 9728), e.g.
	// https://api.example.com/api: the gateway publishes its Protected
	// Resource Metadata at the well-known URL formed from it and names that
	// URL in every challenge (see resource.Config.Resource). "" =
	// PublicURL + the base path when PublicURL is https (or http on
	// loopback), else none: no metadata (see GatewayConfig.ResourceID). It
	// is not the audience: that check is unchanged.
	Resource string `yaml:"resource"`
	Upstream string `yaml:"upstream"`  // the API to protect: absolute http(s) URL
	Audience string `yaml:"audience"`  // expected aud; "" = token.audience
	BasePath string `yaml:"base_path"` // e.g. /api: catalog paths are relative to it
	// AccountHeader names the account of a request; "" = X-Account.
	AccountHeader string `yaml:"account_header"`
	// UpstreamTimeout bounds the wait for the upstream's response headers;
	// default 30s (0: the gateway package's own, also 30s).
	UpstreamTimeout Duration `yaml:"upstream_timeout"`
	// RevocationPoll is how often the revocation feed is read (default
	// 5s); 0 turns revocation checks off.
	RevocationPoll Duration `yaml:"revocation_poll"`
	// ClientID authenticates the gateway to a revocation feed that
	// requires a client (revocation_feed.require_scope); its secret is
	// read only from GATEHOUSE_GATEWAY_CLIENT_SECRET.
	ClientID string `yaml:"client_id"`
	// ClientSecret is that client's secret, read only from
	// GATEHOUSE_GATEWAY_CLIENT_SECRET.
	ClientSecret string `yaml:"-"`
	// AllowEncodedSlashes passes paths with an encoded "/" (%2F) on, still
	// encoded, matched as part of one segment; false refuses them (400).
	AllowEncodedSlashes bool `yaml:"allow_encoded_slashes"`
	// AllowPublic passes calls without a token on to operations the
	// OpenAPI document (api.openapi) marks public (security: []); false
	// makes them need a valid token, of any scopes.
	AllowPublic bool `yaml:"allow_public"`
	// AllowMethodOverrideParam passes a _method query parameter on, and
	// the token must then allow both the request's method and the
	// parameter's; false refuses such a request (400).
	AllowMethodOverrideParam bool `yaml:"allow_method_override_param"`
	// DPoPRequired refuses bearer tokens: every call needs a DPoP-bound
	// token and its proof (RFC 9449). The gateway accepts DPoP whenever it
	// knows its public URL (PublicURL, or http://<addr>), which proofs
	// name; false still refuses a bound token sent as a bearer token.
	DPoPRequired bool `yaml:"dpop_required"`
}

// DefaultGatewayAddr is gateway.addr when the gateway is enabled without one.
const DefaultGatewayAddr = "127.0.0.1:8081"

// checkGateway validates the gateway section. Keys that are set are checked
// even while the gateway is disabled, so a mistake shows before it is
// switched on; upstream is required only when enabled. It also completes
// the section: addr gets its default when enabled, a trailing "/" is
// dropped from base_path ("/" becomes "").
func (c *Config) checkGateway(p *problems) {
	g := &c.Gateway
	if g.Enabled && g.Addr == "" {
		g.Addr = DefaultGatewayAddr
	}
	if g.Addr != "" {
		_, port, err := net.SplitHostPort(g.Addr)
		if err == nil {
			if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
				err = &net.AddrError{Err: "port " + strconv.Quote(port) + " is not a number from 0 to 65535"}
			}
		}
		switch {
		case err != nil:
			p.add("gateway.addr %q is not host:port (%s); use e.g. 127.0.0.1:8081", g.Addr, unwrapAddrErr(err))
		case g.Addr == c.Addr && port != "0":
			p.add("gateway.addr %q is also the server's addr; give the gateway its own port, e.g. 127.0.0.1:8081", g.Addr)
		}
	}

	if g.PublicURL != "" {
		if msg := checkUpstreamURL(g.PublicURL); msg != "" {
			p.add("gateway.public_url %q %s", g.PublicURL, strings.Replace(msg, "http://127.0.0.1:3000", "https://api.example.com", 1))
		} else {
			g.PublicURL = strings.TrimSuffix(g.PublicURL, "/")
		}
	}

	if g.Resource != "" {
		if _, err := resource.WellKnownURL(g.Resource); err != nil {
			p.add("gateway.resource: %v; e.g. https://api.example.com/api", err)
		}
	}

	switch msg := checkUpstreamURL(g.Upstream); {
	case g.Upstream == "" && g.Enabled:
		p.add("gateway.upstream is required when the gateway is enabled: the URL of the API to protect, e.g. http://127.0.0.1:3000")
	case g.Upstream != "" && msg != "":
		p.add("gateway.upstream %q %s", g.Upstream, msg)
	}

	if strings.TrimSpace(g.Audience) != g.Audience || strings.ContainsFunc(g.Audience, isControl) {
		p.add("gateway.audience %q contains white space at an end or a control character; remove it", g.Audience)
	}

	if msg := checkBasePath(g.BasePath); msg != "" {
		p.add("gateway.base_path %q %s", g.BasePath, msg)
	} else {
		g.BasePath = strings.TrimSuffix(g.BasePath, "/")
	}

	if msg := checkHeaderName(g.AccountHeader); g.AccountHeader != "" && msg != "" {
		p.add("gateway.account_header %q %s", g.AccountHeader, msg)
	}
	if g.UpstreamTimeout < 0 {
		p.add("gateway.upstream_timeout is negative (%s); use e.g. 30s", g.UpstreamTimeout)
	}
	switch {
	case g.ClientID != "" && g.ClientSecret == "" && g.Enabled:
		p.add("gateway.client_id is set but GATEHOUSE_GATEWAY_CLIENT_SECRET is empty; set the client's secret in that variable")
	case g.ClientID == "" && g.ClientSecret != "":
		p.add("GATEHOUSE_GATEWAY_CLIENT_SECRET is set but gateway.client_id is not; set the client's ID (GATEHOUSE_GATEWAY_CLIENT_ID)")
	}
	if g.Enabled && g.ClientID == "" && c.RevocationFeed.RequireScope != "" {
		p.add("gateway.client_id is required: revocation_feed.require_scope makes the feed need a client; create one allowed %q, set gateway.client_id and GATEHOUSE_GATEWAY_CLIENT_SECRET", c.RevocationFeed.RequireScope)
	}
	if g.DPoPRequired && g.ExternalURL() == "" {
		p.add("gateway.dpop_required needs gateway.public_url or gateway.resource (DPoP proofs name the gateway's URL), e.g. https://api.example.com")
	}
	if g.RevocationPoll < 0 {
		p.add("gateway.revocation_poll is negative (%s); use e.g. 5s, or 0 to turn revocation checks off", g.RevocationPoll)
	}
}

// ResourceID returns the resource identifier the gateway publishes metadata
// for: Resource, or else PublicURL followed by basePath (gateway.base_path,
// or else the OpenAPI document's) if that is a valid identifier (an https
// PublicURL, or http on loopback), or else "" (no metadata).
func (g GatewayConfig) ResourceID(basePath string) string {
	if g.Resource != "" || g.PublicURL == "" {
		return g.Resource
	}
	id := strings.TrimSuffix(g.PublicURL, "/") + basePath
	if _, err := resource.WellKnownURL(id); err != nil {
		return ""
	}
	return id
}

// ExternalURL returns where clients reach the gateway, which DPoP proofs
// name (htu): PublicURL, or else the scheme and host of Resource, or else
// http://<addr> for an addr with a specific host and port; "" if unknown
// (the gateway then accepts no DPoP).
func (g GatewayConfig) ExternalURL() string {
	if g.PublicURL != "" {
		return g.PublicURL
	}
	if u, err := url.Parse(g.Resource); err == nil && g.Resource != "" && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	host, port, err := net.SplitHostPort(g.Addr)
	if err != nil || port == "0" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return "http://" + g.Addr
}

// checkUpstreamURL returns what is wrong with an upstream URL, or "".
func checkUpstreamURL(s string) string {
	const eg = "e.g. http://127.0.0.1:3000"
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		return "is not an absolute http or https URL; " + eg
	case u.User != nil:
		return "must not contain user information; " + eg
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a query or fragment; " + eg
	}
	return ""
}

// checkBasePath returns what is wrong with an API base path, or "".
func checkBasePath(path string) string {
	const eg = "e.g. /api, or leave it empty for the whole API"
	switch {
	case path == "":
		return ""
	case path[0] != '/':
		return "must start with \"/\"; " + eg
	case strings.Contains(path, "//"):
		return "has an empty segment (\"//\"); " + eg
	}
	for seg := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
		if seg == "." || seg == ".." {
			return "has a \"" + seg + "\" segment; " + eg
		}
	}
	for _, r := range path {
		if !isPathChar(r) {
			return "contains " + strconv.QuoteRune(r) + "; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = % only"
		}
	}
	return ""
}

// checkHeaderName returns what is wrong with a request header name for the
// account, or "".
func checkHeaderName(name string) string {
	const eg = "e.g. X-Account"
	if name == "" {
		return "is empty; " + eg
	}
	for _, r := range name {
		if !isTokenChar(r) {
			return "is not an HTTP header name (it contains " + strconv.QuoteRune(r) + "); " + eg
		}
	}
	lower := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	switch {
	case strings.HasPrefix(lower, "x-gatehouse-"):
		return "is reserved: the gateway sets X-Gatehouse-* headers itself; " + eg
	case lower == "authorization" || lower == "host" || lower == "connection" || lower == "content-length":
		return "is a standard HTTP header; " + eg
	}
	return ""
}

// isTokenChar reports whether r may appear in an HTTP field name (RFC 9110 §5.6.2).
func isTokenChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
