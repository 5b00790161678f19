package scope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Methods an endpoint may be limited to. Input is case-insensitive.
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Limits that keep a hostile catalog (aliases can repeat a list many times)
// from costing more than a large honest one.
const (
	maxEndpoints = 100_000 // endpoint entries, aliases counted each time
	maxProblems  = 100     // problems reported before giving up
)

// A ParseError lists every problem found in a scope catalog, each naming
// the line, the scope, the entry and what is wrong.
type ParseError struct {
	File     string   // the file, when the catalog came from [Load]
	Problems []string // one message per problem, e.g. `line 7: scope "search": ...`
}

// Error returns the problems one per line, each prefixed with the file name
// if there is one.
func (e *ParseError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid scope catalog"
	}
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// Load reads and parses the scope catalog in the named file. Problems in the
// catalog are reported as a *[ParseError] whose File is path.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scope catalog: %w", err)
	}
	c, err := Parse(data)
	if pe, ok := errors.AsType[*ParseError](err); ok {
		pe.File = path
	}
	return c, err
}

// Parse parses and validates a YAML scope catalog:
//
//	scopes:
//	  <name>:
//	    label: <text>
//	    endpoints:
//	      - <pattern>                 # every method
//	      - <pattern>: <METHOD>
//	      - <pattern>: [<METHOD>, ...]
//	    default: true                 # optional
//	    self_service: true            # optional
//
// The "scopes:" wrapper may be left out, as platforms print catalogs: then
// the scopes are the top-level keys. (A top-level "scopes" key whose value
// has a key such as label holding text is a scope named "scopes".)
//
// Names must be scope-tokens (RFC 6749 §3.3) and must not start with
// [AccountPrefix]. Every scope needs a non-blank label; surrounding white
// space is removed from it. A scope may have no endpoints, and then grants
// nothing. default and self_service are true or false (see [Scope]).
// Methods are GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS, in
// any case; they are stored in upper case, repeats dropped. A pattern's
// leading "/" is optional and removed. A pattern must not be empty, end in
// "/", or contain an empty segment, a "." or ".." segment, "**", or a "*"
// that is only part of a segment. Unknown keys are errors.
//
// Parse reports every problem it finds at once, as a *[ParseError].
func Parse(data []byte) (*Catalog, error) {
	p := &parser{c: &Catalog{index: make(map[string]int)}}
	if err := p.parse(data); err != nil {
		return nil, err
	}
	return fromScopes(p.c.scopes), nil
}

// parse parses data into p.c.scopes, reporting every problem as a
// *ParseError.
func (p *parser) parse(data []byte) error {
	root, err := document(data)
	if err != nil {
		p.add(nil, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	} else {
		p.catalog(root)
	}
	if len(p.problems) > 0 {
		// Report in file order; problems found together keep their order.
		slices.SortStableFunc(p.problems, func(a, b problem) int { return a.line - b.line })
		pe := &ParseError{Problems: make([]string, len(p.problems))}
		for i, pr := range p.problems {
			pe.Problems[i] = pr.msg
		}
		return pe
	}
	return nil
}

// fromScopes builds the catalog of valid scopes whose endpoints are each a
// rule of that one scope, as in a YAML catalog.
func fromScopes(scopes []Scope) *Catalog {
	var rules []rule
	for i := range scopes {
		names, idx := []string{scopes[i].Name}, []int{i}
		for _, e := range scopes[i].Endpoints {
			rules = append(rules, rule{Rule: Rule{Pattern: e.Pattern, Methods: e.Methods, Scopes: names}, idx: idx})
		}
		scopes[i].Endpoints = nil
	}
	return build(scopes, rules, false, false)
}

// document decodes the one YAML document in data and returns its root node,
// or nil if data holds no document.
func document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: a second YAML document; a catalog is a single document", extra.Line)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

type parser struct {
	c          *Catalog
	problems   []problem
	nEndpoints int // endpoint entries seen, for maxEndpoints
	// overlay parses a catalog for Definition.Merge: a label may be left
	// out, and meta records which keys each scope gives.
	overlay bool
	meta    []scopeMeta
}

// scopeMeta is where a scope of an overlay is and which keys it gives (nil:
// not given).
type scopeMeta struct {
	name                                *yaml.Node
	label, endpoints, dflt, selfService *yaml.Node
}

type problem struct {
	line int // 0: not known
	msg  string
}

// add records a problem at node n (nil: no line known).
func (p *parser) add(n *yaml.Node, format string, args ...any) {
	switch {
	case len(p.problems) == maxProblems:
		p.problems = append(p.problems, problem{math.MaxInt, "too many problems; fix these and try again"})
		return
	case len(p.problems) > maxProblems:
		return
	}
	pr := problem{msg: fmt.Sprintf(format, args...)}
	if n != nil && n.Line > 0 {
		pr.line = n.Line
		pr.msg = fmt.Sprintf("line %d: %s", n.Line, pr.msg)
	}
	p.problems = append(p.problems, pr)
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pair is one key/value of a YAML mapping.
type pair struct {
	key   string
	kn, v *yaml.Node
}

// pairs returns the entries of mapping n, reporting keys that are not plain
// text and keys given twice (what describes a key in messages).
func (p *parser) pairs(n *yaml.Node, what func(key string) string) []pair {
	var out []pair
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			p.add(kn, "a mapping key must be plain text")
			continue
		}
		if isNull(kn) && kn.Value != "" {
			p.add(kn, "key %q means null in YAML; quote it if you mean the text", kn.Value)
			continue
		}
		if line, dup := first[kn.Value]; dup {
			p.add(kn, "%s is given twice (first at line %d)", what(kn.Value), line)
			continue
		}
		first[kn.Value] = kn.Line
		out = append(out, pair{key: kn.Value, kn: kn, v: resolve(v)})
	}
	return out
}

func (p *parser) catalog(root *yaml.Node) {
	root = resolve(root)
	if root == nil || isNull(root) {
		p.add(nil, `empty catalog: define scopes, under a top-level "scopes" key or at the top level`)
		return
	}
	if root.Kind != yaml.MappingNode {
		p.add(root, `a catalog is a mapping: a "scopes" key holding the scopes, or the scopes themselves`)
		return
	}
	scopes := wrapped(root)
	if scopes == nil {
		// The scopes at the top level, as platforms print them.
		p.scopes(root)
		if len(p.c.scopes) == 0 && len(p.problems) == 0 {
			p.add(root, "the catalog defines no scopes")
		}
		return
	}
	for _, kv := range p.pairs(root, func(k string) string { return fmt.Sprintf("top-level key %q", k) }) {
		if kv.key != "scopes" {
			p.add(kv.kn, `unknown top-level key %q (the only one is "scopes")`, kv.key)
		}
	}
	switch {
	case isNull(scopes):
		p.add(scopes, `"scopes" defines no scopes`)
	case scopes.Kind != yaml.MappingNode:
		p.add(scopes, `"scopes" must be a mapping from scope name to {label, endpoints}`)
	default:
		p.scopes(scopes)
		if len(p.c.scopes) == 0 && len(p.problems) == 0 {
			p.add(scopes, `"scopes" defines no scopes`)
		}
	}
}

// wrapped returns the value of root's "scopes" key if the catalog is in
// the wrapped form, or nil if root holds the scopes themselves. A "scopes"
// key whose value looks like one scope's definition (a mapping with a key
// such as label whose value is not a mapping) is a scope named "scopes" in
// the unwrapped form.
func wrapped(root *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(root.Content); i += 2 {
		kn, v := root.Content[i], resolve(root.Content[i+1])
		if kn.Kind != yaml.ScalarNode || kn.Value != "scopes" {
			continue
		}
		if v != nil && v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				// A scope named label holds a mapping; a label holds text.
				if x := resolve(v.Content[j+1]); slices.Contains(scopeKeys, v.Content[j].Value) &&
					x != nil && x.Kind != yaml.MappingNode && !isNull(x) {
					return nil
				}
			}
		}
		if v == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: kn.Line}
		}
		return v
	}
	return nil
}

// scopeKeys are the keys of one scope's definition.
var scopeKeys = []string{"label", "endpoints", "default", "self_service"}

func (p *parser) scopes(n *yaml.Node) {
	for _, kv := range p.pairs(n, func(k string) string { return fmt.Sprintf("scope %q", k) }) {
		if s, m, ok := p.scope(kv); ok {
			p.c.index[s.Name] = len(p.c.scopes)
			p.c.scopes = append(p.c.scopes, s)
			p.meta = append(p.meta, m)
		}
	}
}

// scope checks one scope definition; ok is false if it has problems.
func (p *parser) scope(kv pair) (s Scope, m scopeMeta, ok bool) {
	before := len(p.problems)
	name := kv.key
	m.name = kv.kn
	if msg := checkName(name); msg != "" {
		p.add(kv.kn, "%s", msg)
	}
	what := fmt.Sprintf("scope %q", name)
	var label *yaml.Node
	switch {
	case isNull(kv.v) && p.overlay:
		p.add(kv.kn, "%s: says nothing; give a label, default or self_service, or remove it", what)
	case isNull(kv.v):
		p.add(kv.kn, "%s: missing label", what)
	case kv.v.Kind != yaml.MappingNode:
		p.add(kv.v, "%s: must be a mapping with keys label and endpoints (and optionally default, self_service)", what)
	default:
		for _, f := range p.pairs(kv.v, func(k string) string { return fmt.Sprintf("%s: key %q", what, k) }) {
			switch f.key {
			case "label":
				label, m.label = f.v, f.kn
				s.Label = p.label(what, f.kn, f.v)
			case "endpoints":
				m.endpoints = f.kn
				s.Endpoints = p.endpoints(what, f.v)
			case "default":
				m.dflt = f.kn
				s.Default = p.flag(what, f.key, f.v)
			case "self_service":
				m.selfService = f.kn
				s.SelfService = p.flag(what, f.key, f.v)
			default:
				p.add(f.kn, "%s: unknown key %q (valid keys: %s)", what, f.key, strings.Join(scopeKeys, ", "))
			}
		}
		if label == nil && !p.overlay {
			p.add(kv.kn, "%s: missing label", what)
		}
	}
	s.Name = name
	return s, m, len(p.problems) == before
}

// checkName returns what is wrong with a scope name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "empty scope name"
	case badTokenChar(name) >= 0:
		return fmt.Sprintf("scope %s: character %s is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '\"' and '\\')",
			quoteShort(name), charAt(name, badTokenChar(name)))
	case strings.HasPrefix(name, AccountPrefix):
		return fmt.Sprintf("scope %q: the %q prefix is reserved for account-restricted tokens", name, AccountPrefix)
	}
	return ""
}

// flag reads a true/false key of a scope.
func (p *parser) flag(what, key string, v *yaml.Node) bool {
	if v == nil || v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		p.add(v, "%s: %s must be true or false", what, key)
		return false
	}
	return strings.EqualFold(v.Value, "true")
}

func (p *parser) label(what string, kn, v *yaml.Node) string {
	if isNull(v) {
		p.add(kn, "%s: missing label", what)
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		p.add(v, "%s: label must be text", what)
		return ""
	}
	l := strings.TrimSpace(v.Value)
	switch {
	case l == "":
		p.add(v, "%s: empty label", what)
	case !utf8.ValidString(l):
		p.add(v, "%s: label is not valid UTF-8", what)
	case strings.IndexFunc(l, unicode.IsControl) >= 0:
		p.add(v, "%s: label contains a control character (line break or tab); keep it on one line", what)
	}
	return l
}

func (p *parser) endpoints(what string, n *yaml.Node) []Endpoint {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, "%s: endpoints must be a list", what)
		return nil
	}
	var eps []Endpoint
	first := make(map[string]int) // pattern → line of first use
	for _, item := range n.Content {
		p.nEndpoints++
		if p.nEndpoints > maxEndpoints {
			if p.nEndpoints == maxEndpoints+1 {
				p.add(item, "more than %d endpoints in the catalog", maxEndpoints)
			}
			return nil
		}
		item = resolve(item)
		var pn, mn *yaml.Node // the pattern and, if given, its methods
		switch {
		case isNull(item):
			p.add(item, "%s: empty endpoint entry", what)
			continue
		case item.Kind == yaml.ScalarNode:
			pn = item
		case item.Kind == yaml.MappingNode && len(item.Content) == 2 && item.Content[0].Kind == yaml.ScalarNode:
			pn, mn = item.Content[0], resolve(item.Content[1])
		case item.Kind == yaml.MappingNode && len(item.Content) > 2:
			p.add(item, "%s: an endpoint entry has one pattern; start each pattern on its own line with \"- \"", what)
			continue
		default:
			p.add(item, `%s: an endpoint entry is a pattern ("records/*") or a pattern with methods ("records/*: [GET, POST]")`, what)
			continue
		}
		entry := fmt.Sprintf("%s: endpoint %s", what, quoteShort(pn.Value))
		pattern, msg := checkPattern(pn.Value)
		ok := msg == ""
		if !ok {
			p.add(pn, "%s: %s", entry, msg)
		}
		var methods []string
		if mn != nil {
			var mok bool
			methods, mok = p.methods(entry, mn)
			ok = ok && mok
		}
		if msg != "" {
			continue
		}
		if line, dup := first[pattern]; dup {
			p.add(pn, "%s is listed twice (first at line %d); list its methods once", entry, line)
			continue
		}
		first[pattern] = pn.Line
		if ok {
			eps = append(eps, Endpoint{Pattern: pattern, Methods: methods})
		}
	}
	return eps
}

// methods checks the methods of one endpoint: a string or a list of strings.
func (p *parser) methods(what string, n *yaml.Node) ([]string, bool) {
	var items []*yaml.Node
	switch {
	case isNull(n):
		p.add(n, `%s: no methods given; write the bare pattern to allow every method`, what)
		return nil, false
	case n.Kind == yaml.ScalarNode:
		items = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.add(n, `%s: empty method list; write the bare pattern to allow every method`, what)
			return nil, false
		}
		items = n.Content
	default:
		p.add(n, "%s: methods must be a method or a list of methods", what)
		return nil, false
	}
	ms := make([]string, 0, len(items))
	ok := true
	for _, m := range items {
		m = resolve(m)
		if m == nil || m.Kind != yaml.ScalarNode || isNull(m) {
			p.add(m, "%s: a method must be a name such as GET", what)
			ok = false
			continue
		}
		up := strings.ToUpper(m.Value)
		switch {
		case slices.Contains(knownMethods, up):
			if !slices.Contains(ms, up) {
				ms = append(ms, up)
			}
		case strings.ContainsAny(up, ", "):
			p.add(m, "%s: method %s: write several methods as a list, e.g. [GET, POST]", what, quoteShort(m.Value))
			ok = false
		default:
			p.add(m, "%s: unknown HTTP method %s (use %s)", what, quoteShort(m.Value), strings.Join(knownMethods, ", "))
			ok = false
		}
	}
	return ms, ok
}

// checkPattern returns the pattern without its optional leading "/", or a
// message saying what is wrong with it.
func checkPattern(pat string) (string, string) {
	if pat == "" {
		return "", `empty pattern; use "*" for every endpoint`
	}
	p := strings.TrimPrefix(pat, "/")
	if p == "" {
		return "", `empty pattern; use "*" for every endpoint`
	}
	if !utf8.ValidString(p) {
		return "", "not valid UTF-8"
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		switch {
		case seg == "" && i == len(segs)-1:
			return "", `trailing "/"; remove it`
		case seg == "":
			return "", `empty path segment ("//")`
		case seg == "**":
			return "", `"**" is not supported; a "*" as the last segment already matches the rest of the path`
		case seg != "*" && strings.Contains(seg, "*"):
			return "", fmt.Sprintf(`"*" must be a whole segment, not part of one (%q)`, seg)
		case seg == "." || seg == "..":
			return "", fmt.Sprintf("%q segments are not allowed", seg)
		}
		if i := strings.IndexFunc(seg, badPathRune); i >= 0 {
			r, _ := utf8.DecodeRuneInString(seg[i:])
			return "", fmt.Sprintf("character %q is not allowed in a path", r)
		}
	}
	return p, ""
}

// badPathRune reports whether r may not appear in a pattern: white space,
// control characters, and the URL delimiters '?', '#' and '\'.
func badPathRune(r rune) bool {
	return r == '?' || r == '#' || r == '\\' || unicode.IsSpace(r) || !unicode.IsGraphic(r)
}
