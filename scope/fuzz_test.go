package scope_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/scope"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(scope.DefaultYAML))
	f.Add([]byte("scopes:\n  a:\n    label: A\n    endpoints:\n      - /x/*/y: [get, POST]\n      - z\n"))
	f.Add([]byte("scopes:\n  a: {label: A, endpoints: &e [x]}\n  b: {label: B, endpoints: *e}\n"))
	f.Add([]byte("profile:\n  label: P\n  endpoints:\n    - workers/me: GET\n  default: true\n  self_service: false\n"))
	f.Add([]byte("scopes:\n  label: S\n  endpoints: [x]\nlabel:\n  label: L\n"))
	f.Add([]byte("scopes:\n  a b: {label: A}\n  a b: {}\n  c: {label: C, endpoints: [a//b, a*, {x: [FETCH]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := scope.Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a catalog and an error: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkInvariants(t, c)
		// A catalog written back out parses to the same catalog.
		out, err := yaml.Marshal(catalogNode(c))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := scope.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		if diff := cmp.Diff(allScopes(c), allScopes(c2)); diff != "" {
			t.Fatalf("re-parsed catalog differs (-first +second):\n%s", diff)
		}
		// So does it written without the "scopes:" wrapper.
		out, err = yaml.Marshal(catalogNode(c).Content[1])
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c3, err := scope.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		if diff := cmp.Diff(allScopes(c), allScopes(c3)); diff != "" {
			t.Fatalf("re-parsed unwrapped catalog differs (-first +second):\n%s", diff)
		}
	})
}

func checkInvariants(t *testing.T, c *scope.Catalog) {
	t.Helper()
	if c.Len() == 0 || c.Len() != len(c.Names()) {
		t.Fatalf("Len() = %d, len(Names()) = %d; want equal and positive", c.Len(), len(c.Names()))
	}
	for _, name := range c.Names() {
		if toks, err := scope.Split(name); err != nil || len(toks) != 1 || toks[0] != name {
			t.Fatalf("scope name %q is not one scope token: %q, %v", name, toks, err)
		}
		if strings.HasPrefix(name, scope.AccountPrefix) {
			t.Fatalf("scope name %q uses the reserved prefix", name)
		}
		s, ok := c.Get(name)
		if !ok || s.Name != name || strings.TrimSpace(s.Label) == "" {
			t.Fatalf("Get(%q) = %+v, %v", name, s, ok)
		}
		for _, e := range s.Endpoints {
			if e.Pattern == "" || strings.HasPrefix(e.Pattern, "/") || strings.HasSuffix(e.Pattern, "/") {
				t.Fatalf("scope %q: bad pattern %q", name, e.Pattern)
			}
			for _, seg := range strings.Split(e.Pattern, "/") {
				if seg == "" || seg == "." || seg == ".." || seg != "*" && strings.Contains(seg, "*") {
					t.Fatalf("scope %q: pattern %q has bad segment %q", name, e.Pattern, seg)
				}
			}
			if e.Methods != nil && len(e.Methods) == 0 {
				t.Fatalf("scope %q: pattern %q has an empty, non-nil method list", name, e.Pattern)
			}
			for _, m := range e.Methods {
				if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, m) {
					t.Fatalf("scope %q: pattern %q has method %q", name, e.Pattern, m)
				}
			}
		}
	}
}

// catalogNode renders c in the catalog format, quoting every string.
func catalogNode(c *scope.Catalog) *yaml.Node {
	str := func(s string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
	}
	mapping := func(kv ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: kv} }
	seq := func(items ...*yaml.Node) *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Content: items} }
	scopes := mapping()
	for _, name := range c.Names() {
		s, _ := c.Get(name)
		eps := seq()
		for _, e := range s.Endpoints {
			if e.Methods == nil {
				eps.Content = append(eps.Content, str(e.Pattern))
				continue
			}
			ms := seq()
			for _, m := range e.Methods {
				ms.Content = append(ms.Content, str(m))
			}
			eps.Content = append(eps.Content, mapping(str(e.Pattern), ms))
		}
		def := mapping(str("label"), str(s.Label), str("endpoints"), eps)
		for _, f := range []struct {
			key string
			on  bool
		}{{"default", s.Default}, {"self_service", s.SelfService}} {
			if f.on {
				def.Content = append(def.Content, str(f.key), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
			}
		}
		scopes.Content = append(scopes.Content, str(name), def)
	}
	return mapping(str("scopes"), scopes)
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "a", "profile search", "a  b", " a", "a ", "a a", "account:42", "a\tb", `"x"`, "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := scope.Split(s)
		if err != nil {
			if toks != nil {
				t.Fatalf("Split(%q) returned tokens %q and error %v", s, toks, err)
			}
			return
		}
		seen := make(map[string]bool)
		for _, tok := range toks {
			if tok == "" || seen[tok] {
				t.Fatalf("Split(%q) = %q: empty or repeated token", s, toks)
			}
			seen[tok] = true
			for i := 0; i < len(tok); i++ {
				if c := tok[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
					t.Fatalf("Split(%q) accepted token %q with byte %q", s, tok, c)
				}
			}
		}
		// Every input token is kept: joining the result and splitting again
		// is stable, and each token of s is in the result.
		again, err := scope.Split(scope.Join(toks))
		if err != nil || !slices.Equal(again, toks) {
			t.Fatalf("Split(Join(%q)) = %q, %v", toks, again, err)
		}
		for tok := range strings.SplitSeq(s, " ") {
			if s != "" && !seen[tok] {
				t.Fatalf("Split(%q) lost token %q", s, tok)
			}
		}
	})
}

func FuzzSplitPath(f *testing.F) {
	for _, s := range []string{
		"", "/", "//", "/workers/me", "workers/me/", "/a/./b/../c", "/workers/me/../../admin",
		"/records%2F7%2Fsearch", "/%2e%2e/a", "/a/.%2E/b", "/a%252F", "/a/%zz", "/a/%", "/a%00",
		"/x%2F..%2Fy", `/a\..\b`, "/caf%C3%A9", "/a/\xff", "/..", "/a/b/c/../../../..",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		for _, rules := range []scope.PathRules{{}, {AllowEncodedSlash: true}} {
			checkSplit(t, rules, path)
		}
	})
}

// checkSplit checks what rules.Split makes of path.
func checkSplit(t *testing.T, rules scope.PathRules, path string) {
	t.Helper()
	segs, err := rules.Split(path)
	if err != nil {
		if segs != nil {
			t.Fatalf("%+v.Split(%q) returned segments %q and error %v", rules, path, segs, err)
		}
		return
	}
	if segs != nil && len(segs) == 0 {
		t.Fatalf("%+v.Split(%q) returned an empty, non-nil slice", rules, path)
	}
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			t.Fatalf("%+v.Split(%q) = %q: segment %q", rules, path, segs, seg)
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("%+v.Split(%q) = %q: control character %q", rules, path, segs, c)
			}
		}
		if strings.Contains(seg, `\`) || !rules.AllowEncodedSlash && strings.Contains(seg, "/") {
			t.Fatalf("%+v.Split(%q) = %q: segment %q holds a separator", rules, path, segs, seg)
		}
		if strings.ContainsAny(seg, `/\`) {
			for part := range strings.FieldsFuncSeq(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
				if part == "." || part == ".." {
					t.Fatalf("%+v.Split(%q) = %q: segment %q hides a dot segment", rules, path, segs, seg)
				}
			}
		}
	}
	// Clean paths are stable: escaping the segments again and splitting
	// gives the same segments.
	esc := make([]string, len(segs))
	for i, seg := range segs {
		esc[i] = url.PathEscape(seg)
	}
	again, err := rules.Split("/" + strings.Join(esc, "/"))
	if err != nil || !slices.Equal(again, segs) {
		t.Fatalf("%+v.Split(%q) = %q, but Split of it escaped again = %q, %v", rules, path, segs, again, err)
	}
	// A segment and ".." in front change nothing.
	again, err = rules.Split("/x/../" + path)
	if err != nil || !slices.Equal(again, segs) {
		t.Fatalf("%+v.Split(%q) = %q, but Split(/x/../ + it) = %q, %v", rules, path, segs, again, err)
	}
}

// A fuzzCatalog is a small random catalog and what it should mean.
type fuzzCatalog struct {
	yaml   string
	scopes []fuzzScope
}

type fuzzScope struct {
	name      string
	endpoints []scope.Endpoint
}

// byteReader hands out the fuzzer's bytes; past the end it gives zeros.
type byteReader []byte

func (r *byteReader) next() byte {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return b
}

var fuzzMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// genCatalog builds a catalog of 1 to 4 scopes, each with up to 4 patterns
// of 1 to 3 segments out of a, b, c and *, and some methods or none. The
// low 4 bits of the first byte put 64 empty scopes before each scope, so
// that Sets span several words.
func genCatalog(spec []byte) fuzzCatalog {
	r := byteReader(spec)
	var fc fuzzCatalog
	var b strings.Builder
	b.WriteString("scopes:\n")
	first := r.next()
	nScopes := 1 + int(first>>4)%4
	for i := range nScopes {
		if first&(1<<i) != 0 {
			for range 64 {
				name := fmt.Sprint("pad", len(fc.scopes))
				fmt.Fprintf(&b, "  %s: {label: P}\n", name)
				fc.scopes = append(fc.scopes, fuzzScope{name: name})
			}
		}
		s := fuzzScope{name: fmt.Sprint("s", i)}
		fmt.Fprintf(&b, "  %s:\n    label: S\n    endpoints:\n", s.name)
		nEps := int(r.next() % 5)
		for range nEps {
			n := 1 + int(r.next()%3)
			segs := make([]string, n)
			for j := range segs {
				segs[j] = []string{"a", "b", "c", "*"}[r.next()%4]
			}
			pat := strings.Join(segs, "/")
			mbits := r.next()
			var methods []string
			for j, m := range fuzzMethods {
				if mbits&(1<<j) != 0 {
					methods = append(methods, m)
				}
			}
			if slices.ContainsFunc(s.endpoints, func(e scope.Endpoint) bool { return e.Pattern == pat }) {
				continue
			}
			s.endpoints = append(s.endpoints, scope.Endpoint{Pattern: pat, Methods: methods})
			if methods == nil {
				fmt.Fprintf(&b, "      - %q\n", pat)
			} else {
				fmt.Fprintf(&b, "      - %q: [%s]\n", pat, strings.Join(methods, ", "))
			}
		}
		fc.scopes = append(fc.scopes, s)
	}
	fc.yaml = b.String()
	return fc
}

// genRequest builds a method and up to 5 path segments out of a, b, c, d,
// "*" (a literal segment) and "a/b" (a segment holding an encoded "/").
func genRequest(req []byte) (string, []string) {
	r := byteReader(req)
	method := slices.Concat(fuzzMethods, []string{"TRACE", "get"})[r.next()%9]
	var segs []string
	for n := r.next() % 6; n > 0; n-- {
		segs = append(segs, []string{"a", "b", "c", "d", "*", "a/b"}[r.next()%6])
	}
	return method, segs
}

// refMatch is the matching rule of the catalog format, written plainly.
func refMatch(pattern, segs []string) bool {
	switch {
	case len(pattern) == 0:
		return len(segs) == 0
	case len(pattern) == 1 && pattern[0] == "*":
		return len(segs) >= 1
	case len(segs) == 0:
		return false
	case pattern[0] != "*" && pattern[0] != segs[0]:
		return false
	}
	return refMatch(pattern[1:], segs[1:])
}

func refMethod(methods []string, method string) bool {
	if methods == nil {
		return true
	}
	for _, m := range methods {
		if m == method || m == "GET" && method == "HEAD" {
			return true
		}
	}
	return false
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0}, []byte{0, 1, 0})
	f.Add([]byte{0x12, 2, 1, 0, 1, 2, 3, 0, 1, 1, 1}, []byte{0, 2, 0, 5})
	f.Add([]byte{0x3a, 3, 2, 0, 3, 2, 2, 1, 3, 2, 0x81, 2, 1, 0, 2, 1, 1, 2, 0, 3, 3, 4}, []byte{1, 3, 0, 2, 1})
	f.Add([]byte{0x2f, 4, 2, 2, 1, 3, 4, 0, 0, 0, 0x7f, 1, 2, 3, 3, 3, 0x11}, []byte{8, 4, 0, 2, 1, 3})
	f.Fuzz(func(t *testing.T, spec, req []byte) {
		fc := genCatalog(spec)
		c, err := scope.Parse([]byte(fc.yaml))
		if err != nil {
			t.Fatalf("Parse of generated catalog:\n%s\nfailed: %v", fc.yaml, err)
		}
		method, segs := genRequest(req)

		var want []string
		wantExp := make([]scope.Explanation, len(fc.scopes))
		for i, s := range fc.scopes {
			wantExp[i].Scope = s.name
			found := false // the path matched, but not the method
			for _, e := range s.endpoints {
				if !refMatch(strings.Split(e.Pattern, "/"), segs) {
					continue
				}
				if refMethod(e.Methods, method) {
					wantExp[i] = scope.Explanation{Scope: s.name, Allowed: true, Pattern: e.Pattern, Methods: e.Methods}
					want = append(want, s.name)
					break
				}
				if !found {
					found = true
					wantExp[i] = scope.Explanation{Scope: s.name, Pattern: e.Pattern, Methods: e.Methods}
				}
			}
		}
		call := fmt.Sprintf("catalog:\n%s\n%s %q", fc.yaml, method, segs)
		if got := c.Allowing(method, segs); !slices.Equal(got, want) {
			t.Fatalf("%s\nAllowing = %q, want %q", call, got, want)
		}
		if diff := cmp.Diff(wantExp, c.Explain(method, segs)); diff != "" {
			t.Fatalf("%s\nExplain (-want +got):\n%s", call, diff)
		}
		for _, s := range fc.scopes {
			if got, want := c.Allows(c.SetOf([]string{s.name}), method, segs), slices.Contains(want, s.name); got != want {
				t.Fatalf("%s\nAllows(%s) = %v, want %v", call, s.name, got, want)
			}
		}
		// A set of several scopes: every other one.
		var some []string
		wantSome := false
		for i, s := range fc.scopes {
			if i%2 == len(req)%2 {
				some = append(some, s.name)
				wantSome = wantSome || slices.Contains(want, s.name)
			}
		}
		if got := c.Allows(c.SetOf(some), method, segs); got != wantSome {
			t.Fatalf("%s\nAllows(%q) = %v, want %v", call, some, got, wantSome)
		}
	})
}
