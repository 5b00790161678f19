package scope_test

import (
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
		scopes.Content = append(scopes.Content, str(name), mapping(str("label"), str(s.Label), str("endpoints"), eps))
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
