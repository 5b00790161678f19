package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/scope"
)

// Resource is an API behind this server besides the default one (RFC 8707
// resource indicators): clients name it with the resource parameter, its
// tokens carry aud = ID and scopes of its own catalog.
type Resource struct {
	ID      string // absolute URI without a fragment: the resource parameter's value and the tokens' aud
	Name    string // for the consent page; "" = ID
	Catalog *scope.Catalog
	// DefaultTTL is the lifetime of its tokens for clients without their
	// own; 0: Options.DefaultTTL. MaxTTL bounds them; 0: Options.MaxTTL.
	// Neither goes above Options.MaxTTL.
	DefaultTTL, MaxTTL time.Duration
}

// maxResourceParams bounds how many resource parameters an authorization
// request may carry.
const maxResourceParams = 10

// newResources checks the configured resources and indexes them by ID.
func newResources(o Options, audience string) (map[string]*Resource, []*Resource, error) {
	m := make(map[string]*Resource, len(o.Resources))
	var list []*Resource
	for i := range o.Resources {
		r := o.Resources[i]
		switch {
		case r.Catalog == nil:
			return nil, nil, fmt.Errorf("server: resource %q has no catalog", r.ID)
		case checkResourceID(r.ID) != "":
			return nil, nil, fmt.Errorf("server: resource %q: %s", r.ID, checkResourceID(r.ID))
		case r.ID == audience:
			return nil, nil, fmt.Errorf("server: resource %q is the default audience", r.ID)
		case m[r.ID] != nil:
			return nil, nil, fmt.Errorf("server: resource %q is listed twice", r.ID)
		}
		r.MaxTTL = min(cmpOr(r.MaxTTL, o.MaxTTL), o.MaxTTL)
		r.DefaultTTL = min(cmpOr(r.DefaultTTL, o.DefaultTTL), r.MaxTTL)
		m[r.ID] = &r
		list = append(list, &r)
	}
	return m, list, nil
}

func cmpOr(d, or time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return or
}

// checkResourceID returns what is wrong with a resource parameter's value
// (RFC 8707 §2: an absolute URI without a fragment), or "".
func checkResourceID(id string) string {
	if strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "it contains white space or a control character"
	}
	u, err := url.Parse(id)
	switch {
	case err != nil || u.Scheme == "":
		return "it is not an absolute URI"
	case u.Fragment != "" || strings.Contains(id, "#"):
		return "it has a fragment"
	}
	return ""
}

// defaultResourceID is the identifier of the client's default resource:
// its own audience, or the server's.
func (s *Server) defaultResourceID(cc *cachedClient) string {
	if cc.client.Audience != "" {
		return cc.client.Audience
	}
	return s.audience
}

// targetResource returns the resource a resource parameter names for the
// client: nil for its default resource (also when id is ""), or a
// configured resource the client is allowed. Anything else is
// invalid_target.
func (s *Server) targetResource(cc *cachedClient, id string) (*Resource, error) {
	if id == "" || id == s.defaultResourceID(cc) {
		return nil, nil
	}
	if msg := checkResourceID(id); msg != "" {
		return nil, oauth.InvalidTarget("resource %q is not a valid resource indicator: %s (RFC 8707 §2)", safeName(id), msg)
	}
	r := s.resources[id]
	if r == nil {
		return nil, oauth.InvalidTarget("resource %q is not a resource of this server", safeName(id))
	}
	if !slices.Contains(cc.client.Resources, id) {
		return nil, oauth.InvalidTarget("this client may not get tokens for resource %q", safeName(id))
	}
	return r, nil
}

// scopeView is the part of the scope catalogs that a request is checked
// against: the default resource's (with the scopes granted by name) if
// def, and the catalogs of res.
type scopeView struct {
	def bool
	res []*Resource
	// What the client may be granted of them (see cachedClient).
	catalogScopes  []string
	defaultScopes  []string
	defaultAccount string
}

// defaultView is the default resource's view for the client, as today.
func (cc *cachedClient) defaultView() scopeView {
	return scopeView{def: true, catalogScopes: cc.catalogScopes, defaultScopes: cc.defaultScopes, defaultAccount: cc.defaultAccount}
}

// view returns the view of the resources rs (nil entries: the default
// resource) for the client.
func (s *Server) view(cc *cachedClient, rs []*Resource) scopeView {
	v := scopeView{}
	for _, r := range rs {
		if r == nil {
			v.def = true
		} else {
			v.res = append(v.res, r)
		}
	}
	if v.def && len(v.res) == 0 {
		return cc.defaultView()
	}
	for _, name := range cc.client.Scopes {
		if v.def && s.catalog.Has(name) || v.inResources(name) {
			v.catalogScopes = append(v.catalogScopes, name)
		}
	}
	v.defaultScopes = v.catalogScopes
	if cc.onlyAccount != "" {
		v.defaultAccount = cc.defaultAccount
		if len(v.catalogScopes) > 0 {
			v.defaultScopes = append(slices.Clone(v.catalogScopes), cc.onlyAccount)
		}
	}
	return v
}

func (v *scopeView) inResources(name string) bool {
	for _, r := range v.res {
		if r.Catalog.Has(name) {
			return true
		}
	}
	return false
}

// has reports whether a scope (not account:<id>) belongs to the view.
func (s *Server) has(v *scopeView, name string) bool {
	if v.def && (s.catalog.Has(name) || slices.Contains(s.byName, name)) {
		return true
	}
	return v.inResources(name)
}

// tokenResource is what the token endpoint decided a token is for.
type tokenResource struct {
	res      *Resource // nil: the default resource
	audience string
	ttl      time.Duration
}

// issueFor returns the audience and lifetime of a token of the client for
// r (nil: the default resource): the client's lifetime or else the
// resource's default, capped by the resource's maximum.
func (s *Server) issueFor(cc *cachedClient, r *Resource) tokenResource {
	c := &cc.client
	if r == nil {
		ttl := c.TokenTTL
		if ttl <= 0 {
			ttl = s.defaultTTL
		}
		return tokenResource{audience: s.defaultResourceID(cc), ttl: min(ttl, s.maxTTL)}
	}
	ttl := c.TokenTTL
	if ttl <= 0 {
		ttl = r.DefaultTTL
	}
	return tokenResource{res: r, audience: r.ID, ttl: min(ttl, r.MaxTTL)}
}

// scopesFor keeps of a grant's scopes those of resource r (nil: the
// default resource) and account:<id>; it refuses a grant that keeps none
// of its other scopes.
func (s *Server) scopesFor(cc *cachedClient, r *Resource, granted []string) ([]string, error) {
	v := s.view(cc, []*Resource{r})
	var out []string
	n := 0
	for _, sc := range granted {
		switch {
		case strings.HasPrefix(sc, scope.AccountPrefix):
			out = append(out, sc)
		case s.has(&v, sc):
			out = append(out, sc)
			n++
		}
	}
	if n == 0 && len(granted) > len(out) {
		name := s.audience
		if r != nil {
			name = r.ID
		}
		return nil, oauth.InvalidScope("none of the granted scopes is a scope of resource %q", safeName(name))
	}
	return out, nil
}

// resourceParams returns the resource parameters of an authorization
// request: the default resource's (nil) when there is none.
func (s *Server) resourceParams(cc *cachedClient, ids []string) ([]*Resource, []string, error) {
	if len(ids) == 0 {
		return []*Resource{nil}, nil, nil
	}
	if len(ids) > maxResourceParams {
		return nil, nil, oauth.InvalidTarget("at most %d resource parameters", maxResourceParams)
	}
	var rs []*Resource
	var granted []string
	for _, id := range ids {
		if id == "" {
			return nil, nil, oauth.InvalidTarget("a resource parameter is empty")
		}
		r, err := s.targetResource(cc, id)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(granted, id) {
			rs, granted = append(rs, r), append(granted, id)
		}
	}
	return rs, granted, nil
}

// consentScopes are the entries a consent records for scopes granted for
// the resources rs: a default resource's scope by its name, another
// resource's as "<resource ID>#<scope>" (an identifier has no fragment, so
// the two cannot be confused; internal/consents labels both).
func (s *Server) consentScopes(rs []*Resource, scopes []string) []string {
	if len(rs) == 1 && rs[0] == nil {
		return scopes
	}
	var out []string
	add := func(e string) {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, sc := range scopes {
		if strings.HasPrefix(sc, scope.AccountPrefix) {
			add(sc)
			continue
		}
		for _, r := range rs {
			switch {
			case r == nil:
				if s.catalog.Has(sc) || slices.Contains(s.byName, sc) {
					add(sc)
				}
			case r.Catalog.Has(sc):
				add(r.ID + "#" + sc)
			}
		}
	}
	return out
}

// clientResources are the resources the client may use: the default (nil)
// and those of its Resources that are configured.
func (s *Server) clientResources(cc *cachedClient) []*Resource {
	rs := []*Resource{nil}
	for _, id := range cc.client.Resources {
		if r := s.resources[id]; r != nil {
			rs = append(rs, r)
		}
	}
	return rs
}

// tokenTarget returns the token request's resource parameter (RFC 8707
// §2.2) and the resource it names (nil: the default). A token is for one
// resource, so the parameter may be given once.
func (s *Server) tokenTarget(cc *cachedClient, f *form) (string, *Resource, error) {
	if n := f.Count("resource"); n > 1 {
		return "", nil, oauth.InvalidTarget("the request names %d resources; a token is for one: send one resource parameter", n)
	}
	id := f.Get("resource")
	r, err := s.targetResource(cc, id)
	if err != nil {
		return "", nil, err
	}
	return id, r, nil
}

// scopesSupported is the metadata's scopes_supported (RFC 8414 §2): the
// default catalog's scopes, then those of the resources' catalogs that are
// not among them, in the order of Options.Resources.
func (s *Server) scopesSupported() []string {
	names := s.catalog.Names()
	if len(s.resources) == 0 {
		return names
	}
	names = slices.Clone(names)
	for _, r := range s.resourceList {
		for _, n := range r.Catalog.Names() {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// ConsentResources are the resources as the consents service labels them.
func ConsentResources(rs []Resource) []consents.Resource {
	out := make([]consents.Resource, len(rs))
	for i, r := range rs {
		out[i] = consents.Resource{ID: r.ID, Name: r.Name, Catalog: r.Catalog}
	}
	return out
}
