package config

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ResourceConfig is one entry of `resources:`: an API protected by
// Gatehouse beside the default one, with its own scope catalog and
// audience (RFC 8707 resource indicators). Clients name it with the
// resource parameter of authorization and token requests; its tokens carry
// aud = ID. The default resource is the top-level catalog (scopes_file,
// api.openapi) with audience token.audience.
type ResourceConfig struct {
	// ID is the resource identifier, an absolute URI without a fragment
	// (RFC 8707 §2), e.g. https://billing.example.com/api: the value of
	// the resource parameter and of the tokens' aud claim.
	ID string `yaml:"id"`
	// Name is what the consent page shows for it; "" = ID.
	Name string `yaml:"name"`
	// ScopesFile and OpenAPI give its scope catalog, as the top-level
	// scopes_file and api.openapi give the default resource's: at least one
	// is required; with both, the YAML file is merged into the catalog the
	// OpenAPI document derives.
	ScopesFile string `yaml:"scopes_file"`
	OpenAPI    string `yaml:"openapi"`
	// DefaultTTL is its tokens' lifetime for clients without their own;
	// 0 = token.default_ttl. MaxTTL bounds every lifetime of its tokens;
	// 0 = token.max_ttl, and neither may exceed token.max_ttl.
	DefaultTTL Duration `yaml:"default_ttl"`
	MaxTTL     Duration `yaml:"max_ttl"`
}

// MaxResources bounds the resources: list.
const MaxResources = 100

// Lifetimes returns the resource's default and maximum token lifetimes,
// with the token section's standing in for what it leaves unset.
func (r ResourceConfig) Lifetimes(t TokenConfig) (def, maxTTL time.Duration) {
	def, maxTTL = time.Duration(r.DefaultTTL), time.Duration(r.MaxTTL)
	if maxTTL <= 0 {
		maxTTL = time.Duration(t.MaxTTL)
	}
	if def <= 0 {
		def = min(time.Duration(t.DefaultTTL), maxTTL)
	}
	return def, maxTTL
}

// Resource returns the entry of resources: whose ID is id.
func (c *Config) Resource(id string) (ResourceConfig, bool) {
	for _, r := range c.Resources {
		if r.ID == id {
			return r, true
		}
	}
	return ResourceConfig{}, false
}

// CheckResourceID returns what is wrong with a resource identifier, or ""
// (RFC 8707 §2: an absolute URI without a fragment; this server also
// refuses a query, which the RFC advises against, white space and control
// characters).
func CheckResourceID(id string) string {
	const eg = "e.g. https://billing.example.com/api"
	if id == "" {
		return "is empty; give the API's identifier, " + eg
	}
	if len(id) > 512 {
		return "is longer than 512 characters"
	}
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "contains white space or a control character; " + eg
	}
	u, err := url.Parse(id)
	switch {
	case err != nil || u.Scheme == "":
		return "is not an absolute URI (RFC 8707 §2); " + eg
	case u.Fragment != "" || strings.Contains(id, "#"):
		return "must not have a fragment (RFC 8707 §2); remove the part from \"#\""
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query; remove the part from \"?\""
	case u.User != nil:
		return "must not contain user information; " + eg
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		return "has no host; " + eg
	}
	return ""
}

// checkResources checks the resources: list: identifiers absolute, without
// a fragment, unique and unlike the default resource's audience; each with
// a catalog that exists; lifetimes within token.max_ttl.
func (c *Config) checkResources(p *problems) {
	if len(c.Resources) > MaxResources {
		p.add("resources lists %d entries; at most %d are supported", len(c.Resources), MaxResources)
	}
	seen := make(map[string]int)
	for i, r := range c.Resources {
		key := "resources[" + strconv.Itoa(i) + "]"
		if msg := CheckResourceID(r.ID); msg != "" {
			p.add("%s.id %q %s", key, r.ID, msg)
		} else {
			if j, dup := seen[r.ID]; dup {
				p.add("%s.id %q repeats resources[%d].id; give each resource its own identifier", key, r.ID, j)
			} else {
				seen[r.ID] = i
			}
			if r.ID == c.Token.Audience {
				p.add("%s.id %q is the default resource's audience (token.audience, the issuer unless set); the top-level catalog already is that resource: give this one an identifier of its own", key, r.ID)
			}
		}
		if len(r.Name) > 200 || strings.ContainsFunc(r.Name, isControl) {
			p.add("%s.name is longer than 200 characters or contains a control character", key)
		}
		if r.ScopesFile == "" && r.OpenAPI == "" {
			p.add("%s has no scope catalog: set scopes_file (a YAML catalog), openapi (the API's OpenAPI document), or both", key)
		}
		checkFile(p, key+".scopes_file", r.ScopesFile, "the resource's YAML scope catalog")
		checkFile(p, key+".openapi", r.OpenAPI, "the resource's OpenAPI document")
		maxTTL := c.Token.MaxTTL
		switch {
		case r.DefaultTTL < 0:
			p.add("%s.default_ttl is negative (%s); use e.g. 1h, or 0 for token.default_ttl", key, r.DefaultTTL)
		case r.MaxTTL < 0:
			p.add("%s.max_ttl is negative (%s); use e.g. 12h, or 0 for token.max_ttl", key, r.MaxTTL)
		case maxTTL > 0 && r.MaxTTL > maxTTL:
			p.add("%s.max_ttl (%s) exceeds token.max_ttl (%s); lower it or raise token.max_ttl", key, r.MaxTTL, maxTTL)
		case maxTTL > 0 && r.DefaultTTL > maxTTL:
			p.add("%s.default_ttl (%s) exceeds token.max_ttl (%s); lower it or raise token.max_ttl", key, r.DefaultTTL, maxTTL)
		case r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL:
			p.add("%s.default_ttl (%s) exceeds its max_ttl (%s); lower default_ttl or raise max_ttl", key, r.DefaultTTL, r.MaxTTL)
		}
	}
	g := c.Gateway
	if g.Resource != "" && g.Audience != "" {
		if r, ok := c.Resource(g.Resource); ok && g.Audience != r.ID {
			p.add("gateway.audience %q differs from gateway.resource %q, which is an entry of resources: the gateway for that resource accepts its tokens only; remove gateway.audience", g.Audience, g.Resource)
		}
	}
}

// checkFile reports a file setting that names no readable file.
func checkFile(p *problems, key, f, what string) {
	if f == "" {
		return
	}
	switch st, err := os.Stat(f); {
	case errors.Is(err, fs.ErrNotExist):
		p.add("%s %q: no such file; give %s", key, f, what)
	case err != nil:
		p.add("%s %q: %v", key, f, unwrapPathErr(err))
	case st.IsDir():
		p.add("%s %q is a directory; give %s, a YAML or JSON file", key, f, what)
	}
}
