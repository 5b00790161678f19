package adminapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Tenant-scoped management. A token restricted to an account (a platform's
// backend acting for its customer "acme" asks for the scopes
// "gatehouse:clients account:acme") manages only the clients bound to that
// account: those whose accounts are exactly [acme]. Another client is 404
// to it, not 403, so a tenant cannot learn which IDs exist. The clients it
// creates are bound to its account, and it may give them only the scopes
// the catalog marks self_service. Only a gatehouse:admin token without an
// account gives or takes away system scopes, or changes a client that has
// them: anyone else could otherwise rotate an admin client's secret and
// become an administrator.

// owns reports whether the caller may see and manage cl.
func (c *caller) owns(cl store.Client) bool {
	return c.account == "" || len(cl.Accounts) == 1 && cl.Accounts[0] == c.account
}

// mayManage is the condition, checked in the change's transaction, that the
// caller may change cl.
func (c *caller) mayManage(cl store.Client) error {
	if !c.owns(cl) {
		return notFound("no such client")
	}
	if !c.admin && slices.ContainsFunc(cl.Scopes, IsSystem) {
		return forbidden("only a gatehouse:admin token that is not restricted to an account may change a client allowed system scopes")
	}
	return nil
}

// get returns the client if the caller may see it.
func (a *API) getClient(r *http.Request, c *caller, id string) (store.Client, error) {
	cl, err := a.o.Clients.Get(r.Context(), id)
	if err != nil {
		return store.Client{}, err
	}
	if !c.owns(cl) {
		return store.Client{}, notFound("no such client")
	}
	return cl, nil
}

// checkScopes checks the scopes the caller gives a client; field is the
// JSON pointer of the list.
func (a *API) checkScopes(c *caller, field string, scopes []string) error {
	for i, s := range scopes {
		at := fmt.Sprintf("%s/%d", field, i)
		switch {
		case IsSystem(s) && !c.admin:
			return problem(admin.ProblemForbidden, http.StatusForbidden, at,
				"only a gatehouse:admin token that is not restricted to an account may give the system scope "+s)
		case c.account != "" && !slices.Contains(a.o.Catalog.SelfService(), s):
			return invalid(at, fmt.Sprintf("a token restricted to an account may give only self-service scopes (%s), not %q",
				orNone(a.o.Catalog.SelfService()), s))
		}
	}
	return nil
}

// checkResources: only an administrator (a token not restricted to an
// account) allows a client resources (RFC 8707) besides the default one;
// a tenant's clients stay on the default resource's self-service scopes.
func (c *caller) checkResources(resources []string) error {
	if len(resources) > 0 && c.account != "" {
		return problem(admin.ProblemForbidden, http.StatusForbidden, "/resources",
			"only a token that is not restricted to an account may allow a client resources besides the default one")
	}
	return nil
}

// checkAccounts checks the accounts a tenant gives a client.
func (c *caller) checkAccounts(accounts []string) error {
	if c.account != "" && !slices.Equal(accounts, []string{c.account}) {
		return invalid("/accounts", "a client created with a token restricted to account "+c.account+" is bound to it: leave accounts out, or send [\""+c.account+"\"]")
	}
	return nil
}

// checkJWKSURI: only an administrator registers a jwks_uri, which the
// server then fetches: anyone else could point it at services on the
// server's own network (a blind request forgery). Others send the public
// keys themselves, as jwks.
func (c *caller) checkJWKSURI(uri string) error {
	if uri != "" && !c.admin {
		return problem(admin.ProblemForbidden, http.StatusForbidden, "/jwks_uri",
			"only a gatehouse:admin token that is not restricted to an account may register a jwks_uri, which the server fetches; send the client's public keys as jwks instead")
	}
	return nil
}

// tenantDefaults are the scopes of a client a tenant creates without naming
// any: the catalog's default scopes that are self-service.
func (a *API) tenantDefaults() []string {
	var out []string
	for _, s := range a.o.Catalog.Defaults() {
		if slices.Contains(a.o.Catalog.SelfService(), s) {
			out = append(out, s)
		}
	}
	return out
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none are"
	}
	return strings.Join(l, ", ")
}

// requires are the conditions of a change to a client by the caller.
func (c *caller) requires(extra ...clients.Require) []clients.Require {
	return append([]clients.Require{c.mayManage}, extra...)
}
