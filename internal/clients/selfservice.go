package clients

import (
	"slices"

	"github.com/gatehouse/gatehouse/scope"
)

// SelfService is what a client that nobody checked may be allowed: a
// client registered under the open registration policy
// (internal/registration) or described by a client ID metadata document
// (internal/server/clientmeta.go). Both ask this one type, so the rule is
// the same for both.
//
// Such a client may be allowed the scopes the catalogs mark self_service:
// the default resource's catalog and those of the configured resources
// (RFC 8707), such as an MCP server's. A client's scopes are names, which
// apply in every catalog of the client's resources that has them; so a
// name that some catalog has without self_service is never self-service,
// even where another catalog marks it: granting it would grant that
// catalog's scope too. The client is allowed the resources whose catalogs
// mark one of its scopes self_service.
type SelfService struct {
	scopes    []string            // in catalog order: the default's, then each resource's
	resources map[string][]string // scope → IDs of the resources whose catalog marks it self_service
	order     []string            // the resources with self-service scopes, as configured
}

// NewSelfService returns what self-service clients may be allowed of the
// default catalog def and the resources rs. A nil catalog offers nothing.
func NewSelfService(def *scope.Catalog, rs []Resource) *SelfService {
	ss := &SelfService{resources: map[string][]string{}}
	var cats []*scope.Catalog
	for _, c := range append([]*scope.Catalog{def}, catalogs(rs)...) {
		if c != nil {
			cats = append(cats, c)
		}
	}
	privileged := func(name string) bool {
		for _, c := range cats {
			if s, ok := c.Get(name); ok && !s.SelfService {
				return true
			}
		}
		return false
	}
	add := func(name string) {
		if !slices.Contains(ss.scopes, name) && !privileged(name) {
			ss.scopes = append(ss.scopes, name)
		}
	}
	if def != nil {
		for _, name := range def.SelfService() {
			add(name)
		}
	}
	for _, r := range rs {
		if r.Catalog == nil {
			continue
		}
		for _, name := range r.Catalog.SelfService() {
			add(name)
			if !slices.Contains(ss.scopes, name) || slices.Contains(ss.resources[name], r.ID) {
				continue
			}
			ss.resources[name] = append(ss.resources[name], r.ID)
			if !slices.Contains(ss.order, r.ID) {
				ss.order = append(ss.order, r.ID)
			}
		}
	}
	return ss
}

// SelfService returns what self-service clients may be allowed of the
// service's catalog and resources.
func (s *Service) SelfService() *SelfService {
	return NewSelfService(s.catalog, s.resources)
}

// Scopes returns the self-service scope names: the default catalog's
// first, then those of each resource in turn.
func (ss *SelfService) Scopes() []string { return slices.Clone(ss.scopes) }

// Has reports whether name is a self-service scope.
func (ss *SelfService) Has(name string) bool { return slices.Contains(ss.scopes, name) }

// Resources returns the IDs of the resources a client allowed the scopes
// names needs: those whose catalog marks one of them self_service, in the
// order they are configured. Names that are not self-service add none.
func (ss *SelfService) Resources(names []string) []string {
	out := []string{}
	for _, id := range ss.order {
		for _, n := range names {
			if slices.Contains(ss.resources[n], id) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

func catalogs(rs []Resource) []*scope.Catalog {
	out := make([]*scope.Catalog, len(rs))
	for i, r := range rs {
		out[i] = r.Catalog
	}
	return out
}
