package adminapi

import (
	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/scope"
)

// The system scopes (named in package admin, for the API's clients): what
// a token may do with the admin API. They are not
// in the API catalog, so the token endpoint grants them only to clients
// allowed them that ask for them by name, consent pages never show them and
// the metadata's scopes_supported does not list them.
const (
	// ScopeAdmin allows every call.
	ScopeAdmin = admin.ScopeAdmin
	// ScopeAdminRead allows every GET.
	ScopeAdminRead = admin.ScopeAdminRead
	// ScopeClients allows managing clients and their secrets (and reading
	// the scope catalog to offer its self-service scopes). Restricted to an
	// account, it manages only the clients bound to that account.
	ScopeClients = admin.ScopeClients
	// ScopeUsage allows reporting usage (POST /usage): a gateway's
	// client's scope.
	ScopeUsage = admin.ScopeUsage
)

// SystemScopes are the system scopes, which only an administrator may give
// to a client.
func SystemScopes() []string { return []string{ScopeAdmin, ScopeAdminRead, ScopeClients, ScopeUsage} }

// systemYAML is the catalog the API's guard checks tokens against: paths
// are relative to the server's root.
const systemYAML = `scopes:
  gatehouse:admin:
    label: Administer Gatehouse through its admin API
    endpoints:
      - admin/v1/*
  gatehouse:admin:read:
    label: Read Gatehouse's clients, keys, users, consents and audit trail
    endpoints:
      - admin/v1/*: GET
  gatehouse:clients:
    label: Manage OAuth clients and their secrets
    endpoints:
      - admin/v1/clients: [GET, POST]
      - admin/v1/clients/*: [GET, POST, PATCH, DELETE]
      - admin/v1/scopes: GET
  gatehouse:usage:
    label: Report usage per credential (a gateway)
    endpoints:
      - admin/v1/usage: POST
`

// SystemCatalog is the catalog of the system scopes: their labels, and the
// admin API's endpoints each allows (paths from the server's root).
func SystemCatalog() *scope.Catalog {
	c, err := scope.Parse([]byte(systemYAML))
	if err != nil {
		panic("adminapi: system catalog: " + err.Error())
	}
	return c
}

// IsSystem reports whether name is a system scope.
func IsSystem(name string) bool {
	switch name {
	case ScopeAdmin, ScopeAdminRead, ScopeClients, ScopeUsage:
		return true
	}
	return false
}
