package openapi

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/scope"
)

// catalogMethods are the methods a catalog rule can name, in the order
// operations are listed.
var catalogMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// maxAlternatives bounds the requirement alternatives of one pattern and
// method, after operations that share them are combined.
const maxAlternatives = 256

// An alt is one requirement alternative: the scopes needed together (by
// position in the catalog, ascending), or none; public: no token needed.
type alt struct {
	scopes []int
	public bool
}

func (a alt) key() string { return fmt.Sprint(a.public, a.scopes) }

// group is the operations of one pattern shape and method: a call needs
// what each of them needs.
type group struct {
	pattern, method string
	alts            []alt
	paths           []string
	ops             []int // positions in API.Operations
}

// operations reads every operation and returns the catalog's rules.
func (c *converter) operations() []scope.Rule {
	if c.doc.Paths == nil {
		return nil
	}
	items := c.doc.Paths.Map()
	templates := make([]string, 0, len(items))
	for p := range items {
		templates = append(templates, p)
	}
	sort.Strings(templates)
	groups := make(map[string]*group) // shape + method → group
	var order []*group
	for _, tmpl := range templates {
		item := items[tmpl]
		if item == nil {
			continue
		}
		itemLine := keyLine(item.Origin)
		pattern, shape, msg := patternOf(tmpl)
		if msg != "" {
			c.add(itemLine, "path %q: %s", tmpl, msg)
			continue
		}
		c.checkServers(itemLine, fmt.Sprintf("path %q", tmpl), item.Servers)
		ops := item.Operations()
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		slices.SortFunc(methods, func(a, b string) int {
			ia, ib := slices.Index(catalogMethods, a), slices.Index(catalogMethods, b)
			if ia < 0 {
				ia = len(catalogMethods)
			}
			if ib < 0 {
				ib = len(catalogMethods)
			}
			if ia != ib {
				return ia - ib
			}
			return strings.Compare(a, b)
		})
		for _, method := range methods {
			op := ops[method]
			if op == nil {
				continue
			}
			line := keyLine(op.Origin)
			if line == 0 {
				line = itemLine
			}
			what := method + " " + tmpl
			if op.Servers != nil {
				c.checkServers(line, what, *op.Servers)
			}
			c.api.Operations = append(c.api.Operations, Operation{Method: method, Path: tmpl, ID: op.OperationID, Line: line, Pattern: pattern})
			alts, declared := c.security(what, line, op)
			switch {
			case !slices.Contains(catalogMethods, method):
				c.warn(line, "%s: a catalog cannot name the method %s, so no call with it is allowed", what, method)
				continue
			case pattern == "":
				c.warn(line, "%s: no catalog pattern matches the API root, so no call to it is allowed", what)
				continue
			case declared && len(alts) == 0:
				c.warn(line, "%s: none of its security requirements can be met with a Gatehouse token, so no call to it is allowed", what)
			}
			k := shape + " " + method
			g := groups[k]
			if g == nil {
				g = &group{pattern: pattern, method: method, alts: alts, paths: []string{tmpl}}
				groups[k] = g
				order = append(order, g)
				g.ops = append(g.ops, len(c.api.Operations)-1)
				continue
			}
			g.ops = append(g.ops, len(c.api.Operations)-1)
			g.paths = append(g.paths, tmpl)
			c.warn(line, "%s and %s %s both match the pattern %s: a call needs what each of them needs", what, method, g.paths[0], shape)
			if g.alts = combine(g.alts, alts); len(g.alts) > maxAlternatives {
				c.add(line, "%s: with the other operations of the pattern %s it has more than %d combined security requirements", what, shape, maxAlternatives)
				g.alts = nil
			}
		}
	}
	for _, g := range order {
		for _, i := range g.ops {
			o := &c.api.Operations[i]
			for _, a := range g.alts {
				if a.public {
					o.Public = true
				} else {
					o.Requirements = append(o.Requirements, c.names(a.scopes))
				}
			}
		}
	}
	return c.rules(order)
}

// security returns the requirement alternatives of op Gatehouse can meet,
// and whether the operation (or the document) declares security at all.
// An operation that declares none has no alternatives: no token may call
// it.
func (c *converter) security(what string, line int, op *openapi3.Operation) ([]alt, bool) {
	var reqs openapi3.SecurityRequirements
	switch {
	case op.Security != nil:
		reqs = *op.Security
	case c.doc.Security != nil:
		reqs = c.doc.Security
	default:
		c.warn(line, "%s declares no security, and the document has no top-level security: no call to it is allowed; give it a security requirement, or security: [] to make it public", what)
		return nil, false
	}
	if len(reqs) == 0 {
		return []alt{{public: true}}, true
	}
	var alts []alt
	seen := make(map[string]bool)
	for _, req := range reqs {
		a, ok := c.requirement(what, line, req)
		if ok && !seen[a.key()] {
			seen[a.key()] = true
			alts = append(alts, a)
		}
	}
	return alts, true
}

// requirement converts one security requirement object; ok is false if
// Gatehouse cannot meet it, or it has problems.
func (c *converter) requirement(what string, line int, req openapi3.SecurityRequirement) (alt, bool) {
	if len(req) == 0 {
		return alt{public: true}, true
	}
	names := make([]string, 0, len(req))
	for name := range req {
		names = append(names, name)
	}
	sort.Strings(names)
	var a alt
	var foreign []string
	ok := true
	for _, name := range names {
		s := c.schemes[name]
		if s == nil {
			c.add(line, "%s: its security requirement names the scheme %q, which components.securitySchemes does not define", what, name)
			ok = false
			continue
		}
		if s.typ != "oauth2" {
			foreign = append(foreign, fmt.Sprintf("%q (%s)", name, s.typ))
			continue
		}
		for _, sc := range req[name] {
			i, found := c.scopeIdx[sc]
			if !found || !s.scopes[sc] {
				c.add(line, "%s: scope %q of scheme %q is not declared in that scheme's flows", what, sc, name)
				ok = false
				continue
			}
			if !slices.Contains(a.scopes, i) {
				a.scopes = append(a.scopes, i)
			}
		}
	}
	if !ok {
		return alt{}, false
	}
	if len(foreign) > 0 {
		c.warn(line, "%s: a security requirement names %s, which a Gatehouse token cannot satisfy; it is left out", what, strings.Join(foreign, ", "))
		return alt{}, false
	}
	slices.Sort(a.scopes)
	return a, true
}

// combine returns the alternatives of a call that needs both what a and
// what b need: each pair's scopes together, public only if both are.
func combine(a, b []alt) []alt {
	var out []alt
	seen := make(map[string]bool)
	for _, x := range a {
		for _, y := range b {
			z := alt{scopes: slices.Clone(x.scopes), public: x.public && y.public}
			for _, s := range y.scopes {
				if !slices.Contains(z.scopes, s) {
					z.scopes = append(z.scopes, s)
				}
			}
			slices.Sort(z.scopes)
			if !seen[z.key()] {
				seen[z.key()] = true
				out = append(out, z)
			}
			if len(out) > maxAlternatives {
				return out
			}
		}
	}
	return out
}

// rules turns the groups into catalog rules, one per alternative, the
// methods of a pattern with the same alternative in one rule.
func (c *converter) rules(groups []*group) []scope.Rule {
	var rules []scope.Rule
	at := make(map[string]int) // pattern + alternative → position in rules
	for _, g := range groups {
		for _, a := range g.alts {
			k := g.pattern + " " + a.key()
			if i, ok := at[k]; ok {
				rules[i].Methods = append(rules[i].Methods, g.method)
				continue
			}
			at[k] = len(rules)
			rules = append(rules, scope.Rule{Pattern: g.pattern, Methods: []string{g.method}, Scopes: c.names(a.scopes), Public: a.public})
		}
	}
	return rules
}

// names returns the names of scopes by position; never nil.
func (c *converter) names(idx []int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = c.scopes[x].Name
	}
	return out
}

// checkServers reports servers of a path or operation whose base path is
// not the document's: the catalog has one base path.
func (c *converter) checkServers(line int, what string, servers openapi3.Servers) {
	for _, s := range servers {
		if s == nil {
			continue
		}
		p, msg := serverPath(s)
		if msg == "" && p != c.api.BasePath {
			msg = fmt.Sprintf("its base path %q is not the document's, %q; Gatehouse takes one base path for the whole API", orRoot(p), orRoot(c.api.BasePath))
		}
		if msg != "" {
			c.add(line, "%s: server URL %q: %s", what, s.URL, msg)
		}
	}
}

// patternOf returns the catalog pattern of a path template: relative, each
// segment percent-decoded, a segment with a {parameter} kept as it is (one
// path segment), and its shape, with each parameter segment as "*". Empty
// segments are dropped, as request paths are cleaned. msg says what is
// wrong with the template, if anything.
func patternOf(tmpl string) (pattern, shape, msg string) {
	if !strings.HasPrefix(tmpl, "/") {
		return "", "", `a path template starts with "/"`
	}
	if !utf8.ValidString(tmpl) {
		return "", "", "not valid UTF-8"
	}
	var segs, shapes []string
	for raw := range strings.SplitSeq(tmpl[1:], "/") {
		if raw == "" {
			continue
		}
		if strings.ContainsAny(raw, "{}") {
			if m := checkParamSegment(raw); m != "" {
				return "", "", m
			}
			segs, shapes = append(segs, raw), append(shapes, "*")
			continue
		}
		seg, err := url.PathUnescape(raw)
		switch {
		case err != nil:
			return "", "", fmt.Sprintf("segment %q has an invalid escape", raw)
		case seg == "." || seg == "..":
			return "", "", fmt.Sprintf("a %q segment", seg)
		case strings.Contains(seg, "/"):
			return "", "", fmt.Sprintf(`segment %q holds an encoded "/"`, raw)
		case !utf8.ValidString(seg):
			return "", "", fmt.Sprintf("segment %q is not valid UTF-8", raw)
		case strings.Contains(seg, "*"):
			return "", "", fmt.Sprintf(`segment %q holds a "*", which is a wildcard in Gatehouse's patterns`, raw)
		}
		if i := strings.IndexFunc(seg, badRune); i >= 0 {
			return "", "", fmt.Sprintf("segment %q holds the character %q", raw, []rune(seg[i:])[0])
		}
		segs, shapes = append(segs, seg), append(shapes, seg)
	}
	return strings.Join(segs, "/"), strings.Join(shapes, "/"), ""
}

// checkParamSegment says what is wrong with a path template segment that
// holds braces, or "": each "{" opens a parameter with a name that a "}"
// closes.
func checkParamSegment(raw string) string {
	open := false
	name := 0
	for _, r := range raw {
		switch {
		case r == '{' && open, r == '}' && !open:
			return fmt.Sprintf("segment %q has unbalanced braces", raw)
		case r == '{':
			open, name = true, 0
		case r == '}':
			if name == 0 {
				return fmt.Sprintf("segment %q has a parameter without a name", raw)
			}
			open = false
		case open:
			name++
		}
		if r == '*' || badRune(r) {
			return fmt.Sprintf("segment %q holds the character %q", raw, r)
		}
	}
	if open {
		return fmt.Sprintf("segment %q has unbalanced braces", raw)
	}
	return ""
}

// badRune reports whether r may not appear in a pattern segment.
func badRune(r rune) bool {
	return r == '?' || r == '#' || r == '\\' || unicode.IsSpace(r) || !unicode.IsGraphic(r)
}
