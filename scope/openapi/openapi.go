// Package openapi derives a scope catalog ([scope.Catalog]) from an API's
// OpenAPI document, version 3.0 or 3.1, in YAML or JSON:
//
//   - every scope of the document's oauth2 security schemes
//     (components.securitySchemes, all flows) is a scope of the catalog,
//     its description the label;
//   - every operation is a rule of its path and method for each of its
//     security requirement objects (the operation's security, or the
//     document's top-level security where the operation has none): the
//     scopes that object names (of every oauth2 scheme in it) are needed
//     together (AND), and the objects are alternatives (OR);
//   - `security: []`, or an empty requirement object `{}`, marks a public
//     operation ([scope.Rule].Public); an oauth2 scheme listed with no
//     scopes needs a valid token of any scopes;
//   - a path template's `{param}` is one path segment ("*"), and the path
//     of the servers' URL is the base path the patterns are relative to.
//
// The catalog decides a call by its most specific operation, as OpenAPI
// matches paths (see [scope.Definition].MostSpecific): /users/me takes a
// call before /users/{id}.
//
// Gatehouse checks only its own tokens, so it fails closed where the
// document asks for more: a requirement object that names a scheme of
// another type (apiKey, http, mutualTLS, openIdConnect) cannot be met by a
// token and is left out; an operation with no security at all (neither its
// own nor a top-level one) is allowed to no token; a method the catalog
// cannot name (TRACE) is refused. Each is reported in [API].Warnings.
// Operations that map to one pattern and method (/files/{id}.json and
// /files/{id}.xml are both files/*) need what each of them needs.
//
// Parsing uses github.com/getkin/kin-openapi, with references to other
// files or URLs refused: a document is read from nowhere but its bytes.
package openapi

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/scope"
)

// An API is what Gatehouse derives from an OpenAPI document.
type API struct {
	// Catalog is the derived scope catalog, with the YAML catalog of
	// Options merged in.
	Catalog *scope.Catalog
	// BasePath is the path of the document's server URLs, without a
	// trailing "/" ("" for none): where the API's paths start, as
	// resource.Config.BasePath takes it.
	BasePath string
	// Version is the document's openapi field, e.g. "3.1.0".
	Version string
	// Operations are the document's operations, by path template and
	// method.
	Operations []Operation
	// Warnings say what the catalog leaves out, and why: schemes that are
	// not oauth2, operations no token may call. One sentence each.
	Warnings []string
	// Document is the parsed document, for what else is derived from it
	// (a Postman collection: parameters, request bodies, tags).
	Document *openapi3.T
}

// An Operation is one operation of the document and what it needs.
type Operation struct {
	Method  string // upper case, e.g. "GET"
	Path    string // the path template, as the document writes it
	ID      string // operationId, if any
	Line    int    // where the operation starts in the document; 0 if not known
	Pattern string // the catalog pattern of Path, e.g. "orders/*"; "" for the API root, which no pattern matches
	// Requirements are the alternatives a token may meet, each the scopes
	// it needs together, in catalog order; an empty one needs a valid
	// token of any scopes. They are what the catalog enforces: requirement
	// objects Gatehouse cannot meet are not here, an operation of a method
	// the catalog cannot name (TRACE) or of the API root has none, and
	// operations of one pattern and method have the same, combined (see
	// API.Warnings).
	Requirements [][]string
	// Public is set for an operation that needs no token (security: [],
	// or an empty requirement object among its alternatives).
	Public bool
}

// Options are the options of [Load] and [Parse]. The zero value derives
// the catalog from the document alone.
type Options struct {
	// Scopes is a YAML scope catalog merged with the derived one (see
	// [scope.Definition.Merge]): it may give scopes labels, default and
	// self_service, but no endpoints of its own. ScopesFile names it in
	// messages; if Scopes is nil and ScopesFile is set, Load and Parse read
	// the catalog from that file.
	Scopes     []byte
	ScopesFile string
}

// Load reads the OpenAPI document in file and derives its API. Problems
// with the document are reported as a *[scope.ParseError] whose File is
// file; problems with the YAML catalog, as one whose File is
// opts.ScopesFile.
func Load(file string, opts Options) (*API, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read OpenAPI document: %w", err)
	}
	api, err := Parse(data, opts)
	if pe, ok := errors.AsType[*scope.ParseError](err); ok && pe.File == "" {
		pe.File = file
	}
	return api, err
}

// Parse derives the API of an OpenAPI document (data, YAML or JSON).
// Every problem is reported at once, as a *[scope.ParseError] (File is set
// only for problems of the YAML catalog).
func Parse(data []byte, opts Options) (*API, error) {
	doc, err := load(data)
	if err != nil {
		return nil, &scope.ParseError{Problems: []string{err.Error()}}
	}
	c := &converter{doc: doc, api: &API{Version: doc.OpenAPI, Document: doc}}
	def := c.convert()
	if len(c.problems) > 0 {
		return nil, c.parseError()
	}
	if opts.Scopes == nil && opts.ScopesFile != "" {
		if opts.Scopes, err = os.ReadFile(opts.ScopesFile); err != nil {
			return nil, fmt.Errorf("read scope catalog: %w", err)
		}
	}
	if opts.Scopes != nil {
		if err := def.Merge(opts.Scopes); err != nil {
			if pe, ok := errors.AsType[*scope.ParseError](err); ok {
				pe.File = opts.ScopesFile
			}
			return nil, err
		}
	}
	for _, s := range def.Scopes {
		if strings.TrimSpace(s.Label) == "" {
			c.add(c.scopeLine[s.Name], "scope %q has no description; describe it in the security scheme, or give it a label in a YAML scope catalog merged with the document", s.Name)
		}
	}
	if len(c.problems) > 0 {
		return nil, c.parseError()
	}
	cat, err := scope.New(def)
	if err != nil {
		return nil, err
	}
	c.api.Catalog = cat
	slices.SortStableFunc(c.api.Warnings, func(a, b string) int { return lineOf(a) - lineOf(b) })
	return c.api, nil
}

// load parses an OpenAPI 3.0 or 3.1 document.
func load(data []byte) (doc *openapi3.T, err error) {
	defer func() {
		// A parser bug must not take down the process that reads the
		// document: report it as a problem with the document.
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("the OpenAPI parser failed on this document: %v", r)
		}
	}()
	if len(data) == 0 {
		return nil, errors.New("empty document; want an OpenAPI 3.0 or 3.1 document in YAML or JSON")
	}
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = false
	l.IncludeOrigin = true
	l.ReadFromURIFunc = func(*openapi3.Loader, *url.URL) ([]byte, error) {
		return nil, errors.New("references to other files or URLs are not followed; put everything in one document")
	}
	doc, err = l.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI document: %v", err)
	}
	switch v := doc.OpenAPIMajorMinor(); {
	case v == "3.0" || v == "3.1":
	case doc.OpenAPI == "":
		return nil, errors.New(`no "openapi" version field; want an OpenAPI 3.0 or 3.1 document (convert a Swagger 2.0 one first)`)
	default:
		return nil, fmt.Errorf("OpenAPI version %q: Gatehouse reads 3.0 and 3.1", doc.OpenAPI)
	}
	return doc, nil
}

// A converter derives a scope.Definition from a document.
type converter struct {
	doc       *openapi3.T
	api       *API
	problems  []problem
	schemes   map[string]*scheme
	scopes    []scope.Scope
	scopeIdx  map[string]int // name → position in scopes
	scopeLine map[string]int
}

// A scheme is a security scheme of the document.
type scheme struct {
	typ    string
	scopes map[string]bool // declared scopes, for oauth2
}

type problem struct {
	line int
	msg  string
}

func (c *converter) add(line int, format string, args ...any) {
	c.problems = append(c.problems, problem{line, fmt.Sprintf(format, args...)})
}

func (c *converter) warn(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	c.api.Warnings = append(c.api.Warnings, msg)
}

func (c *converter) parseError() *scope.ParseError {
	slices.SortStableFunc(c.problems, func(a, b problem) int { return a.line - b.line })
	pe := &scope.ParseError{}
	for i, p := range c.problems {
		if i == 100 {
			pe.Problems = append(pe.Problems, "too many problems; fix these and try again")
			break
		}
		if p.line > 0 {
			p.msg = fmt.Sprintf("line %d: %s", p.line, p.msg)
		}
		pe.Problems = append(pe.Problems, p.msg)
	}
	return pe
}

// lineOf returns the line a message starts with ("line 12: ..."), or 0.
func lineOf(msg string) int {
	n := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		for _, ch := range rest {
			if ch < '0' || ch > '9' {
				break
			}
			n = n*10 + int(ch-'0')
		}
	}
	return n
}

func keyLine(o *openapi3.Origin) int {
	if o == nil || o.Key == nil {
		return 0
	}
	return o.Key.Line
}

// convert derives the definition, recording problems and warnings.
func (c *converter) convert() scope.Definition {
	c.readSchemes()
	c.api.BasePath = c.basePath()
	rules := c.operations()
	return scope.Definition{Scopes: c.scopes, Rules: rules, MostSpecific: true}
}

// readSchemes reads components.securitySchemes: the scopes of the oauth2
// ones, in document order.
func (c *converter) readSchemes() {
	c.schemes = make(map[string]*scheme)
	c.scopeIdx = make(map[string]int)
	c.scopeLine = make(map[string]int)
	if c.doc.Components == nil {
		return
	}
	type decl struct {
		name, desc, where string
		line, col         int
	}
	var decls []decl
	type mark struct {
		scheme string
		line   int
		names  []string
	}
	var selfService []mark // x-gatehouse-self-service, per oauth2 scheme
	names := make([]string, 0, len(c.doc.Components.SecuritySchemes))
	for name := range c.doc.Components.SecuritySchemes {
		names = append(names, name)
	}
	line := func(name string) int {
		if r := c.doc.Components.SecuritySchemes[name]; r != nil && r.Value != nil {
			return keyLine(r.Value.Origin)
		}
		return 0
	}
	sort.Slice(names, func(i, j int) bool {
		if li, lj := line(names[i]), line(names[j]); li != lj {
			return li < lj
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		ref := c.doc.Components.SecuritySchemes[name]
		if ref == nil || ref.Value == nil {
			c.add(0, "security scheme %q has no definition", name)
			continue
		}
		ss := ref.Value
		s := &scheme{typ: ss.Type}
		c.schemes[name] = s
		if ss.Type != "oauth2" {
			c.warn(keyLine(ss.Origin), "security scheme %q is of type %s, not oauth2: Gatehouse checks only its own access tokens, so it grants nothing, and a requirement that names it is left out", name, ss.Type)
			continue
		}
		s.scopes = make(map[string]bool)
		if ext, ok := ss.Extensions[SelfServiceExtension]; ok {
			list, ok := ext.([]any)
			m := mark{scheme: name, line: keyLine(ss.Origin)}
			for _, v := range list {
				str, isStr := v.(string)
				if !isStr {
					ok = false
					break
				}
				m.names = append(m.names, str)
			}
			if !ok {
				c.add(m.line, "security scheme %q: %s must be a list of the scheme's scope names", name, SelfServiceExtension)
			}
			selfService = append(selfService, m)
		}
		if ss.Flows == nil {
			c.add(keyLine(ss.Origin), "security scheme %q: an oauth2 scheme needs flows", name)
			continue
		}
		for _, f := range []struct {
			name string
			flow *openapi3.OAuthFlow
		}{
			{"authorizationCode", ss.Flows.AuthorizationCode},
			{"clientCredentials", ss.Flows.ClientCredentials},
			{"implicit", ss.Flows.Implicit},
			{"password", ss.Flows.Password},
		} {
			if f.flow == nil {
				continue
			}
			locs := make(map[string]openapi3.Location)
			if f.flow.Origin != nil {
				for _, loc := range f.flow.Origin.Sequences["scopes"] {
					locs[loc.Name] = loc
				}
			}
			for sc, desc := range f.flow.Scopes {
				s.scopes[sc] = true
				decls = append(decls, decl{sc, desc, fmt.Sprintf("scheme %q, flow %s", name, f.name), locs[sc].Line, locs[sc].Column})
			}
		}
	}
	// In document order (a flow mapping's scopes share a line).
	slices.SortStableFunc(decls, func(a, b decl) int {
		if a.line != b.line {
			return a.line - b.line
		}
		if a.col != b.col {
			return a.col - b.col
		}
		return strings.Compare(a.name, b.name)
	})
	where := make(map[string]string) // scope → where its description is
	for _, d := range decls {
		desc := strings.TrimSpace(d.desc)
		i, seen := c.scopeIdx[d.name]
		if !seen {
			c.scopeIdx[d.name] = len(c.scopes)
			c.scopeLine[d.name] = d.line
			c.scopes = append(c.scopes, scope.Scope{Name: d.name, Label: desc})
			where[d.name] = d.where
			continue
		}
		switch cur := c.scopes[i].Label; {
		case desc == "" || desc == cur:
		case cur == "":
			c.scopes[i].Label, where[d.name] = desc, d.where
		default:
			c.add(d.line, "scope %q is described as %q in %s but as %q in %s; describe it the same way everywhere", d.name, desc, d.where, cur, where[d.name])
		}
	}
	for _, s := range c.scopes {
		if msg := checkScopeName(s.Name); msg != "" {
			c.add(c.scopeLine[s.Name], "%s", msg)
		}
	}
	for _, m := range selfService {
		for _, n := range m.names {
			if !c.schemes[m.scheme].scopes[n] {
				c.add(m.line, "security scheme %q: %s names %q, which is not one of its scopes", m.scheme, SelfServiceExtension, n)
				continue
			}
			c.scopes[c.scopeIdx[n]].SelfService = true
		}
	}
}

// SelfServiceExtension is the OpenAPI extension of an oauth2 security
// scheme that lists its scopes that may be granted without an operator
// (scope.Scope.SelfService: tenant-scoped client management, open client
// registration), as self_service: true does in a YAML catalog:
//
//	components:
//	  securitySchemes:
//	    oauth:
//	      type: oauth2
//	      x-gatehouse-self-service: [orders:read]
//	      flows: ...
const SelfServiceExtension = "x-gatehouse-self-service"

// checkScopeName returns what is wrong with a scope name as a catalog
// scope, or "".
func checkScopeName(name string) string {
	if _, err := scope.New(scope.Definition{Scopes: []scope.Scope{{Name: name, Label: "x"}}}); err != nil {
		var pe *scope.ParseError
		if errors.As(err, &pe) && len(pe.Problems) > 0 {
			return pe.Problems[0]
		}
		return err.Error()
	}
	return ""
}

// basePath returns the path of the document's server URLs.
func (c *converter) basePath() string {
	paths := make(map[string][]string) // base path → server URLs
	var order []string
	for _, s := range c.doc.Servers {
		if s == nil {
			continue
		}
		p, msg := serverPath(s)
		if msg != "" {
			c.add(keyLine(s.Origin), "server URL %q: %s", s.URL, msg)
			continue
		}
		if paths[p] == nil {
			order = append(order, p)
		}
		paths[p] = append(paths[p], s.URL)
	}
	if len(order) > 1 {
		var each []string
		for _, p := range order {
			each = append(each, fmt.Sprintf("%q (%s)", orRoot(p), strings.Join(paths[p], ", ")))
		}
		c.add(0, "the servers have different base paths: %s; Gatehouse needs one, so list servers of one path", strings.Join(each, ", "))
		return ""
	}
	if len(order) == 1 {
		return order[0]
	}
	return ""
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// serverPath returns the path of a server URL, with its variables' default
// values, without a trailing "/", or a message saying what is wrong.
func serverPath(s *openapi3.Server) (string, string) {
	u := s.URL
	for name, v := range s.Variables {
		if v != nil {
			u = strings.ReplaceAll(u, "{"+name+"}", v.Default)
		}
	}
	if strings.ContainsAny(u, "{}") {
		return "", "a variable without a default value"
	}
	pu, err := url.Parse(u)
	switch {
	case err != nil:
		return "", "not a URL"
	case pu.Scheme == "" && pu.Host == "" && !strings.HasPrefix(pu.Path, "/") && pu.Path != "":
		return "", "a relative URL; Gatehouse cannot tell the base path from it: use an absolute URL or a path from /"
	}
	p := strings.TrimRight(pu.EscapedPath(), "/")
	if p == "" {
		return "", ""
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "its path has an empty, . or .. segment"
		}
	}
	for i := 0; i < len(p); i++ {
		if ch := p[i]; ch <= ' ' || ch >= 0x7f || strings.IndexByte(`?#%"\<>^`+"`{|}", ch) >= 0 {
			return "", fmt.Sprintf("its path has the character %q; Gatehouse takes base paths in plain ASCII, unescaped", ch)
		}
	}
	return p, ""
}
