package scope

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A Rule allows calls to an endpoint to a token that has every one of its
// Scopes: an AND requirement. Several rules for one endpoint are
// alternatives: any one of them allows the call (OR). In a YAML catalog
// each endpoint of a scope is a rule of that one scope; a catalog derived
// from an OpenAPI document has a rule for each security requirement object
// of each operation.
type Rule struct {
	// Pattern is as in [Endpoint]. In a catalog made by [New], moreover, a
	// segment holding a {parameter}, as in an OpenAPI path template ({id},
	// {id}.json), matches any one path segment, also as the last segment
	// (where "*" matches one or more).
	Pattern string
	Methods []string // as in [Endpoint]; nil means every method
	// Scopes are the scopes the rule needs, all of them, in catalog order.
	// Empty: the rule needs no scope, so any valid token may make the call
	// (an OpenAPI requirement of an oauth2 scheme with no scopes), or, if
	// Public, any request.
	Scopes []string
	// Public marks an endpoint that needs no token at all (OpenAPI
	// `security: []`, or an empty requirement object). Matching treats it
	// as a rule of no scope: a resource server that requires a token for
	// every call (the default) lets any valid token make it; see
	// [Catalog.Public].
	Public bool
}

// rule is a Rule as the catalog holds it.
type rule struct {
	Rule
	idx  []int  // the positions of Scopes in the catalog, ascending
	set  Set    // the same, as a set
	mask uint16 // the method slots the rule allows (compile sets it)
}

// A Definition describes a catalog for [New]: how a catalog derived from
// another source, such as an OpenAPI document, is made.
type Definition struct {
	// Scopes are the catalog's scopes, in order. The endpoints of each
	// become rules: of that scope, plus those the endpoint's With names.
	Scopes []Scope
	// Rules are further rules, after those of the scopes' endpoints.
	Rules []Rule
	// MostSpecific makes a call be decided by the most specific pattern
	// among those that match its path and have a rule for its method,
	// instead of by every pattern that matches (as in a YAML catalog).
	// Patterns are compared segment by segment from the left: at the first
	// segment where they differ, a literal is more specific than "*", and
	// "*" is more specific than a trailing "*". This is how OpenAPI
	// matches paths: a concrete path such as /users/me takes a call before
	// the template /users/{id}, so a token allowed /users/{id} is not
	// thereby allowed /users/me.
	MostSpecific bool
}

// New validates a definition and returns its catalog. It checks what
// [Parse] checks of a YAML catalog: scope names are scope-tokens not
// starting with [AccountPrefix], given once; labels are non-blank text on
// one line (surrounding space is removed); patterns and methods are valid
// (methods are stored in upper case, repeats dropped). Moreover every scope
// a rule names (in Rule.Scopes or Endpoint.With) is one of the catalog's,
// named once; a public rule names no scope; and a pattern is given once for
// one set of scopes (the same rule given twice, such as an AND rule listed
// under each of its scopes, counts once). Every problem is reported at
// once, as a *[ParseError].
func New(d Definition) (*Catalog, error) {
	var probs []string
	add := func(format string, args ...any) {
		if len(probs) <= maxProblems {
			probs = append(probs, fmt.Sprintf(format, args...))
		}
	}
	scopes := make([]Scope, 0, len(d.Scopes))
	index := make(map[string]int, len(d.Scopes))
	for _, s := range d.Scopes {
		if msg := checkName(s.Name); msg != "" {
			add("%s", msg)
			continue
		}
		if _, dup := index[s.Name]; dup {
			add("scope %q is defined twice", s.Name)
			continue
		}
		label, msg := checkLabel(s.Label)
		if msg != "" {
			add("scope %q: %s", s.Name, msg)
		}
		index[s.Name] = len(scopes)
		scopes = append(scopes, Scope{Name: s.Name, Label: label, Default: s.Default, SelfService: s.SelfService})
	}
	if len(scopes) == 0 && len(probs) == 0 {
		add("the catalog defines no scopes")
	}

	var in []Rule
	for _, s := range d.Scopes {
		for _, e := range s.Endpoints {
			in = append(in, Rule{Pattern: e.Pattern, Methods: e.Methods, Scopes: append([]string{s.Name}, e.With...)})
		}
	}
	in = append(in, d.Rules...)
	if len(in) > maxEndpoints {
		add("more than %d rules in the catalog", maxEndpoints)
		in = nil
	}
	type key struct {
		pattern, scopes string
		public          bool
	}
	first := make(map[key]int) // → position in rules
	var rules []rule
	for _, r := range in {
		what := "rule " + describeRule(r)
		pattern, msg := checkPattern(r.Pattern)
		if msg == "" {
			msg = checkParams(pattern)
		}
		ok := msg == ""
		if !ok {
			add("%s: %s", what, msg)
		}
		methods, msg := checkMethods(r.Methods)
		if msg != "" {
			add("%s: %s", what, msg)
			ok = false
		}
		var idx []int
		for _, name := range r.Scopes {
			i, found := index[name]
			switch {
			case !found:
				add("%s: scope %q is not defined", what, name)
				ok = false
			case slices.Contains(idx, i):
				add("%s: scope %q is named twice", what, name)
				ok = false
			default:
				idx = append(idx, i)
			}
		}
		if r.Public && len(r.Scopes) > 0 {
			add("%s: a public rule needs no scope; it names %s", what, strings.Join(r.Scopes, " "))
			ok = false
		}
		if !ok {
			continue
		}
		slices.Sort(idx)
		k := key{pattern, fmt.Sprint(idx), r.Public}
		if j, dup := first[k]; dup {
			if !sameMethods(rules[j].Methods, methods) {
				add("%s is given twice with different methods; list its methods once", what)
			}
			continue
		}
		first[k] = len(rules)
		names := make([]string, len(idx))
		for i, x := range idx {
			names[i] = scopes[x].Name
		}
		rules = append(rules, rule{Rule: Rule{Pattern: pattern, Methods: methods, Scopes: names, Public: r.Public}, idx: idx})
	}
	if len(probs) > 0 {
		if len(probs) > maxProblems {
			probs = append(probs[:maxProblems], "too many problems; fix these and try again")
		}
		return nil, &ParseError{Problems: probs}
	}
	c := build(scopes, rules, d.MostSpecific, true)
	return c, nil
}

// checkParams says what is wrong with the {parameter} segments of a
// pattern, or "": in each, every "{" opens a named parameter that a "}"
// closes.
func checkParams(pattern string) string {
	for seg := range strings.SplitSeq(pattern, "/") {
		open, name := false, 0
		for _, r := range seg {
			switch {
			case r == '{' && open, r == '}' && !open:
				return fmt.Sprintf("segment %q has unbalanced braces", seg)
			case r == '{':
				open, name = true, 0
			case r == '}' && name == 0:
				return fmt.Sprintf("segment %q has a parameter without a name", seg)
			case r == '}':
				open = false
			case open:
				name++
			}
		}
		if open {
			return fmt.Sprintf("segment %q has unbalanced braces", seg)
		}
	}
	return ""
}

// isParam reports whether a segment of a pattern in a catalog from New is
// a {parameter} segment.
func isParam(seg string) bool { return strings.IndexByte(seg, '{') >= 0 }

// build makes a catalog of valid scopes (without endpoints) and rules,
// filling each scope's endpoints from the rules that name it.
func build(scopes []Scope, rules []rule, specific, params bool) *Catalog {
	c := &Catalog{scopes: scopes, index: make(map[string]int, len(scopes)), rules: rules, specific: specific, params: params}
	for i, s := range scopes {
		c.index[s.Name] = i
	}
	for i := range c.rules {
		r := &c.rules[i]
		r.set = Set{}
		for _, x := range r.idx {
			r.set.add(x)
		}
		if len(r.idx) == 0 {
			c.open = true
		}
		if len(r.idx) != 1 {
			c.multi = true
		}
		for _, x := range r.idx {
			var with []string
			if len(r.idx) > 1 {
				with = make([]string, 0, len(r.idx)-1)
				for _, y := range r.idx {
					if y != x {
						with = append(with, scopes[y].Name)
					}
				}
			}
			c.scopes[x].Endpoints = append(c.scopes[x].Endpoints, Endpoint{Pattern: r.Pattern, Methods: r.Methods, With: with})
		}
	}
	c.root = compile(c)
	return c
}

// Rules returns every rule of the catalog, in catalog order: for a YAML
// catalog, the endpoints of each scope in turn.
func (c *Catalog) Rules() []Rule {
	out := make([]Rule, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.clone()
	}
	return out
}

// MostSpecific reports whether the most specific matching pattern decides
// a call (see [Definition]), as in a catalog derived from an OpenAPI
// document, rather than every matching pattern, as in a YAML catalog.
func (c *Catalog) MostSpecific() bool { return c.specific }

func (r Rule) clone() Rule {
	r.Methods = slices.Clone(r.Methods)
	r.Scopes = slices.Clone(r.Scopes)
	return r
}

// describeRule names a rule in a message: its pattern and methods.
func describeRule(r Rule) string {
	s := quoteShort(r.Pattern)
	if r.Methods != nil {
		s += " [" + strings.Join(r.Methods, ", ") + "]"
	}
	return s
}

// checkLabel returns a label without surrounding space, or a message
// saying what is wrong with it.
func checkLabel(l string) (string, string) {
	l = strings.TrimSpace(l)
	switch {
	case l == "":
		return "", "missing label"
	case !utf8.ValidString(l):
		return "", "label is not valid UTF-8"
	case strings.IndexFunc(l, unicode.IsControl) >= 0:
		return "", "label contains a control character (line break or tab); keep it on one line"
	}
	return l, ""
}

// checkMethods returns methods in upper case without repeats (nil: every
// method), or a message saying what is wrong with them.
func checkMethods(methods []string) ([]string, string) {
	if methods == nil {
		return nil, ""
	}
	if len(methods) == 0 {
		return nil, "empty method list; give no list to allow every method"
	}
	out := make([]string, 0, len(methods))
	for _, m := range methods {
		up := strings.ToUpper(m)
		if !slices.Contains(knownMethods, up) {
			return nil, fmt.Sprintf("unknown HTTP method %s (use %s)", quoteShort(m), strings.Join(knownMethods, ", "))
		}
		if !slices.Contains(out, up) {
			out = append(out, up)
		}
	}
	return out, ""
}

// sameMethods reports whether two method lists allow the same methods.
func sameMethods(a, b []string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
