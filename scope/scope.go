// Package scope defines OAuth 2.0 scopes (RFC 6749 §3.3) as named sets of
// API endpoints, read from a YAML scope catalog, and decides which scopes
// allow a request:
//
//	scopes:
//	  search:
//	    label: Search records on your behalf
//	    endpoints:
//	      - records/*/search: [GET]
//
// Each scope has a label (shown on the consent screen) and a list of
// endpoints. An endpoint is a path pattern relative to the API's base path,
// optionally limited to some HTTP methods; "GET" also allows "HEAD". In a
// pattern, "*" stands for exactly one path segment, except as the last
// segment, where it stands for one or more remaining segments; "*" alone is
// therefore every endpoint except the API root.
//
// # Matching requests
//
// A resource server turns the request path into clean segments with
// [SplitPath], then asks [Catalog.Allows] whether the token's scopes (a
// [Set], from [Catalog.SetOf]) allow the method there:
//
//	segs, err := scope.SplitPath(path) // r.URL.EscapedPath() minus the base path
//	if err != nil { /* 400 */ }
//	if !catalog.Allows(catalog.SetOf(tokenScopes), r.Method, segs) {
//		/* 403 insufficient_scope, scope=catalog.Allowing(r.Method, segs) */
//	}
//
// SplitPath cleans before anything is matched, so that no spelling of a path
// reaches what another path allows: it drops empty segments ("//", a
// trailing "/") and "." segments, resolves ".." (an error above the root),
// decodes each segment on its own exactly once, and rejects what servers
// read differently (an encoded "/", a "\", encoded dot segments, double
// encoding), invalid escapes and control characters. [PathRules] can allow
// encoded slashes: each stays inside its segment, never a boundary.
//
// A literal pattern segment matches a decoded path segment byte for byte
// (case-sensitive; write characters as themselves, not percent-encoded), so
// a segment holding a "/" can only match "*". Methods are compared exactly,
// as HTTP methods are case-sensitive. [Parse] compiles the catalog into a
// trie of segments, so what Allows costs depends on the path, not on the
// number of patterns, and it does not allocate. [Catalog.Allowing] and
// [Catalog.Explain] say which scopes allow a call and through which
// endpoint.
//
// # Rules: AND and OR
//
// A catalog is a list of rules ([Rule]): a pattern, methods, and the scopes
// a token needs all of. The rules that match a call are alternatives. In a
// YAML catalog every endpoint of a scope is a rule of that one scope, so a
// call is allowed to any scope with an endpoint that matches it. A catalog
// made by [New] from a [Definition], such as the one package
// github.com/gatehouse/gatehouse/scope/openapi derives from an OpenAPI
// document, may also have rules that need several scopes together, or none
// (public and any-token operations), and may be decided by the most
// specific matching pattern alone ([Definition].MostSpecific), as OpenAPI
// matches paths. [Catalog.Required] names a set of scopes that would allow
// a refused call; [Catalog.RulesFor] lists the alternatives.
//
// The package also handles scope strings as they travel in requests and
// tokens: [Split], [Join], and the reserved account:<id> scope ([AccountID]).
package scope

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A Catalog is a validated, immutable set of scopes, in the order they were
// defined, and the rules that say which of them allow which calls. Obtain
// one from [Parse], [Load], [Default] or [New]; it is safe for concurrent
// use.
type Catalog struct {
	scopes []Scope
	index  map[string]int // name → position in scopes
	rules  []rule         // every rule, in catalog order
	// specific: the most specific pattern that has rules for a call's
	// method decides it (Definition.MostSpecific).
	specific bool
	open     bool  // some rule needs no scope
	multi    bool  // some rule needs no scope or several
	params   bool  // {parameter} segments match one segment (New)
	root     *node // the rules compiled for matching
}

// A Scope is one entry of a catalog.
type Scope struct {
	Name      string     // a scope-token (RFC 6749 §3.3)
	Label     string     // human-readable description for consent screens
	Endpoints []Endpoint // what the scope grants; empty grants nothing
	// Default marks a scope given to a client registered without a list
	// of scopes.
	Default bool
	// SelfService marks a scope that may be granted without an operator:
	// by tenant-scoped client management and by open registration.
	SelfService bool
}

// An Endpoint is a path pattern and the HTTP methods it allows.
type Endpoint struct {
	// Pattern is a "/"-separated path relative to the API's base path,
	// without a leading "/" (one in the catalog is removed). A segment "*"
	// matches one segment, or, as the last segment, one or more.
	Pattern string
	// Methods are upper-case HTTP methods; nil means every method.
	Methods []string
	// With names the other scopes a token needs, besides the scope whose
	// endpoint this is, for the endpoint to allow a call: the scopes
	// together allow it, none of them alone (an OpenAPI security
	// requirement naming several scopes). Nil, as always in a YAML
	// catalog: the scope alone allows the endpoint.
	With []string
}

// Names returns the catalog's scope names in the order they were defined.
func (c *Catalog) Names() []string {
	names := make([]string, len(c.scopes))
	for i, s := range c.scopes {
		names[i] = s.Name
	}
	return names
}

// Defaults returns the names of the scopes marked default, in the order they
// were defined: what a client registered without a list of scopes is
// allowed.
func (c *Catalog) Defaults() []string {
	var names []string
	for _, s := range c.scopes {
		if s.Default {
			names = append(names, s.Name)
		}
	}
	return names
}

// SelfService returns the names of the scopes marked self_service, in the
// order they were defined.
func (c *Catalog) SelfService() []string {
	var names []string
	for _, s := range c.scopes {
		if s.SelfService {
			names = append(names, s.Name)
		}
	}
	return names
}

// Get returns the scope with the given name.
func (c *Catalog) Get(name string) (Scope, bool) {
	i, ok := c.index[name]
	if !ok {
		return Scope{}, false
	}
	return c.scopes[i].clone(), true
}

// Has reports whether the catalog defines name. It is false for account:<id>
// scopes, which are never in a catalog.
func (c *Catalog) Has(name string) bool {
	_, ok := c.index[name]
	return ok
}

// Len returns the number of scopes in the catalog.
func (c *Catalog) Len() int { return len(c.scopes) }

// clone returns a deep copy, so callers cannot change the catalog.
func (s Scope) clone() Scope {
	if s.Endpoints == nil {
		return s
	}
	eps := make([]Endpoint, len(s.Endpoints))
	for i, e := range s.Endpoints {
		eps[i] = Endpoint{Pattern: e.Pattern, Methods: slices.Clone(e.Methods), With: slices.Clone(e.With)}
	}
	s.Endpoints = eps
	return s
}

// AccountPrefix starts the reserved dynamic scope account:<id>, which
// restricts a token to one account and grants no endpoints by itself.
const AccountPrefix = "account:"

// maxAccountID is the longest account ID an account:<id> scope may carry.
const maxAccountID = 128

// AccountID returns the account ID of an account:<id> scope token. ok is
// false unless token is AccountPrefix followed by 1 to 128 characters from
// A-Z, a-z, 0-9, ".", "_" and "-".
func AccountID(token string) (id string, ok bool) {
	id, found := strings.CutPrefix(token, AccountPrefix)
	if !found || id == "" || len(id) > maxAccountID {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", false
		}
	}
	return id, true
}

// Split parses a scope string (RFC 6749 §3.3): scope tokens separated by
// single spaces. It is strict, as the RFC's grammar is: a leading, trailing
// or doubled space is an error, as is any character outside the
// scope-token set (printable ASCII except space, '"' and '\'). Repeated
// tokens are dropped, keeping the first. An empty string yields no tokens.
func Split(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var toks []string
	var seen map[string]bool // used once toks is long, to stay linear
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			return nil, fmt.Errorf("invalid scope %s: empty scope token; separate scopes with exactly one space", quoteShort(s))
		}
		if i := badTokenChar(tok); i >= 0 {
			return nil, fmt.Errorf("invalid scope token %s: character %s is not allowed (RFC 6749 §3.3)", quoteShort(tok), charAt(tok, i))
		}
		switch {
		case seen != nil:
			if seen[tok] {
				continue
			}
			seen[tok] = true
		case slices.Contains(toks, tok):
			continue
		case len(toks) == 16:
			seen = make(map[string]bool)
			for _, t := range toks {
				seen[t] = true
			}
			seen[tok] = true
		}
		toks = append(toks, tok)
	}
	return toks, nil
}

// Join renders scope tokens as a scope string (RFC 6749 §3.3).
func Join(tokens []string) string { return strings.Join(tokens, " ") }

// badTokenChar returns the index of the first byte of tok that is not
// allowed in a scope-token (%x21 / %x23-5B / %x5D-7E), or -1.
func badTokenChar(tok string) int {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return i
		}
	}
	return -1
}

// charAt quotes the character that starts at s[i] for an error message.
func charAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("%q", s[i:i+1])
	}
	return fmt.Sprintf("%q", string(r))
}

// quoteShort quotes s for an error message, shortening a long s.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
