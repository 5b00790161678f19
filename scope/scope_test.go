package scope_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

func TestDefault(t *testing.T) {
	c := scope.Default()
	want := []scope.Scope{
		{Name: "profile", Label: "Access your profile information",
			Endpoints: []scope.Endpoint{{Pattern: "workers/me", Methods: []string{"GET"}}}, SelfService: true},
		{Name: "search", Label: "Search records on your behalf",
			Endpoints: []scope.Endpoint{{Pattern: "records/*/search", Methods: []string{"GET"}}}, SelfService: true},
		{Name: "api:read-only", Label: "Make any read-only API request on your behalf",
			Endpoints: []scope.Endpoint{{Pattern: "*", Methods: []string{"GET"}}}, SelfService: true},
		{Name: "api", Label: "Make any API request on your behalf",
			Endpoints: []scope.Endpoint{{Pattern: "*"}}, Default: true},
	}
	if diff := cmp.Diff(want, allScopes(c)); diff != "" {
		t.Errorf("Default() scopes (-want +got):\n%s", diff)
	}
	if got := c.Defaults(); !cmp.Equal(got, []string{"api"}) {
		t.Errorf("Defaults() = %q, want [api]", got)
	}
	if got := c.SelfService(); !cmp.Equal(got, []string{"profile", "search", "api:read-only"}) {
		t.Errorf("SelfService() = %q, want the read-only scopes", got)
	}
	if got := c.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	if got, want := c.Names(), []string{"profile", "search", "api:read-only", "api"}; !cmp.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
}

func TestCatalogLookups(t *testing.T) {
	c := scope.Default()
	if !c.Has("api") || c.Has("nope") || c.Has("account:1") {
		t.Errorf("Has: got api=%v nope=%v account:1=%v, want true false false", c.Has("api"), c.Has("nope"), c.Has("account:1"))
	}
	if _, ok := c.Get("nope"); ok {
		t.Errorf("Get(nope) ok = true, want false")
	}
	s, ok := c.Get("search")
	if !ok {
		t.Fatal("Get(search) ok = false, want true")
	}
	// The result is a copy: changing it does not change the catalog.
	s.Endpoints[0].Methods[0] = "DELETE"
	s.Endpoints[0].Pattern = "x"
	again, _ := c.Get("search")
	if got := again.Endpoints[0]; got.Pattern != "records/*/search" || got.Methods[0] != "GET" {
		t.Errorf("catalog changed through Get's result: %+v", got)
	}
}

func TestParse(t *testing.T) {
	c, err := scope.Parse([]byte(`
scopes:
  orders:write:
    label: "  Change orders  "
    endpoints:
      - /orders: [post, Put, POST]
      - orders/*/items/*: delete
      - orders/*
  nothing:
    label: Grants nothing
  empty-list:
    label: Also nothing
    endpoints: []
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []scope.Scope{
		{Name: "orders:write", Label: "Change orders", Endpoints: []scope.Endpoint{
			{Pattern: "orders", Methods: []string{"POST", "PUT"}},
			{Pattern: "orders/*/items/*", Methods: []string{"DELETE"}},
			{Pattern: "orders/*"},
		}},
		{Name: "nothing", Label: "Grants nothing"},
		{Name: "empty-list", Label: "Also nothing"},
	}
	if diff := cmp.Diff(want, allScopes(c), cmp.Comparer(func(a, b []scope.Endpoint) bool {
		return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b)
	})); diff != "" {
		t.Errorf("scopes (-want +got):\n%s", diff)
	}
}

// The catalog as platforms print it: the scopes at the top level, with no
// "scopes:" wrapper, and the default and self_service flags.
func TestParseUnwrapped(t *testing.T) {
	const wrapped = `scopes:
  profile:
    label: Access your profile information
    endpoints:
      - workers/me: GET
    self_service: true
  api:
    label: Make any API request on your behalf
    endpoints:
      - "*"
    default: true
    self_service: false
`
	unwrapped := `profile:
  label: Access your profile information
  endpoints:
    - workers/me: GET
  self_service: true
api:
  label: Make any API request on your behalf
  endpoints:
    - "*"
  default: true
  self_service: false
`
	want := []scope.Scope{
		{Name: "profile", Label: "Access your profile information",
			Endpoints: []scope.Endpoint{{Pattern: "workers/me", Methods: []string{"GET"}}}, SelfService: true},
		{Name: "api", Label: "Make any API request on your behalf",
			Endpoints: []scope.Endpoint{{Pattern: "*"}}, Default: true},
	}
	for name, yml := range map[string]string{"wrapped": wrapped, "unwrapped": unwrapped} {
		c, err := scope.Parse([]byte(yml))
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if diff := cmp.Diff(want, allScopes(c)); diff != "" {
			t.Errorf("%s: scopes (-want +got):\n%s", name, diff)
		}
		if got := c.Defaults(); !cmp.Equal(got, []string{"api"}) {
			t.Errorf("%s: Defaults() = %q, want [api]", name, got)
		}
		if got := c.SelfService(); !cmp.Equal(got, []string{"profile"}) {
			t.Errorf("%s: SelfService() = %q, want [profile]", name, got)
		}
	}

	// A scope named "scopes" in the unwrapped form; a scope named "label"
	// in the wrapped form.
	for _, tt := range []struct{ yml, want string }{
		{"scopes:\n  label: S\n  endpoints: [x]\nother:\n  label: O\n", "scopes other"},
		{"scopes:\n  label:\n    label: L\n", "label"},
	} {
		c, err := scope.Parse([]byte(tt.yml))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.yml, err)
		}
		if got := strings.Join(c.Names(), " "); got != tt.want {
			t.Errorf("Parse(%q) names = %q, want %q", tt.yml, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"empty", ``, []string{`empty catalog: define scopes, under a top-level "scopes" key or at the top level`}},
		{"syntax", "scopes: [\n", []string{`line 1: did not find expected node content`}},
		{"not a mapping", "- a\n", []string{`line 1: a catalog is a mapping: a "scopes" key holding the scopes, or the scopes themselves`}},
		{"misspelt wrapper", "scope:\n  a: {label: A}\n", []string{
			`line 1: scope "scope": missing label`,
			`line 2: scope "scope": unknown key "a" (valid keys: label, endpoints, default, self_service)`,
		}},
		{"unwrapped", "profile:\n  label: P\n  endpoints: [a//b]\nsearch: {}\n", []string{
			`line 3: scope "profile": endpoint "a//b": empty path segment ("//")`,
			`line 4: scope "search": missing label`,
		}},
		{"flags", "a:\n  label: A\n  default: yes\n  self_service: 1\nb: {label: B, default: [true], self_service: ~}\n", []string{
			`line 3: scope "a": default must be true or false`,
			`line 4: scope "a": self_service must be true or false`,
			`line 5: scope "b": default must be true or false`,
			`line 5: scope "b": self_service must be true or false`,
		}},
		{"null scopes", "scopes:\n", []string{`line 1: "scopes" defines no scopes`}},
		{"empty scopes", "scopes: {}\n", []string{`line 1: "scopes" defines no scopes`}},
		{"scopes is a list", "scopes: [a]\n", []string{`line 1: "scopes" must be a mapping from scope name to {label, endpoints}`}},
		{"two documents", "scopes: {a: {label: A}}\n---\nscopes: {}\n", []string{
			`line 2: a second YAML document; a catalog is a single document`,
		}},
		{"bad names", `scopes:
  "": {label: Empty}
  "a b": {label: Space}
  'quo"te': {label: Quote}
  "back\\slash": {label: Backslash}
  "ünï": {label: Non-ASCII}
  account:42: {label: Reserved}
  ~: {label: Null}
`, []string{
			`line 2: empty scope name`,
			`line 3: scope "a b": character " " is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`line 4: scope "quo\"te": character "\"" is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`line 5: scope "back\\slash": character "\\" is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`line 6: scope "ünï": character "ü" is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`line 7: scope "account:42": the "account:" prefix is reserved for account-restricted tokens`,
			`line 8: key "~" means null in YAML; quote it if you mean the text`,
		}},
		{"duplicate scope", `scopes:
  a: {label: A}
  b: {label: B}
  a: {label: Again}
`, []string{`line 4: scope "a" is given twice (first at line 2)`}},
		{"scope keys", `scopes:
  a:
    lable: typo
    endpoints: [x]
    endpoints: [y]
  b:
  c: just text
  d:
    label:
  e:
    label: "   "
  f:
    label: [x]
  g:
    label: "two\nlines"
`, []string{
			`line 2: scope "a": missing label`,
			`line 3: scope "a": unknown key "lable" (valid keys: label, endpoints, default, self_service)`,
			`line 5: scope "a": key "endpoints" is given twice (first at line 4)`,
			`line 6: scope "b": missing label`,
			`line 7: scope "c": must be a mapping with keys label and endpoints (and optionally default, self_service)`,
			`line 9: scope "d": missing label`,
			`line 11: scope "e": empty label`,
			`line 13: scope "f": label must be text`,
			`line 15: scope "g": label contains a control character (line break or tab); keep it on one line`,
		}},
		{"endpoint shapes", `scopes:
  a:
    label: A
    endpoints: "*"
  b:
    label: B
    endpoints:
      -
      - [x, y]
      - {x: GET, y: POST}
      - {}
`, []string{
			`line 4: scope "a": endpoints must be a list`,
			`line 8: scope "b": empty endpoint entry`,
			`line 9: scope "b": an endpoint entry is a pattern ("records/*") or a pattern with methods ("records/*: [GET, POST]")`,
			`line 10: scope "b": an endpoint entry has one pattern; start each pattern on its own line with "- "`,
			`line 11: scope "b": an endpoint entry is a pattern ("records/*") or a pattern with methods ("records/*: [GET, POST]")`,
		}},
		{"patterns", `scopes:
  a:
    label: A
    endpoints:
      - ""
      - /
      - a//b
      - //a
      - a/b/
      - a/**
      - a*b
      - "a/b*"
      - ./a
      - a/../b
      - a b
      - a?b=1
      - "a#frag"
      - "a\\b"
      - "a\tb"
`, []string{
			`line 5: scope "a": endpoint "": empty pattern; use "*" for every endpoint`,
			`line 6: scope "a": endpoint "/": empty pattern; use "*" for every endpoint`,
			`line 7: scope "a": endpoint "a//b": empty path segment ("//")`,
			`line 8: scope "a": endpoint "//a": empty path segment ("//")`,
			`line 9: scope "a": endpoint "a/b/": trailing "/"; remove it`,
			`line 10: scope "a": endpoint "a/**": "**" is not supported; a "*" as the last segment already matches the rest of the path`,
			`line 11: scope "a": endpoint "a*b": "*" must be a whole segment, not part of one ("a*b")`,
			`line 12: scope "a": endpoint "a/b*": "*" must be a whole segment, not part of one ("b*")`,
			`line 13: scope "a": endpoint "./a": "." segments are not allowed`,
			`line 14: scope "a": endpoint "a/../b": ".." segments are not allowed`,
			`line 15: scope "a": endpoint "a b": character ' ' is not allowed in a path`,
			`line 16: scope "a": endpoint "a?b=1": character '?' is not allowed in a path`,
			`line 17: scope "a": endpoint "a#frag": character '#' is not allowed in a path`,
			`line 18: scope "a": endpoint "a\\b": character '\\' is not allowed in a path`,
			`line 19: scope "a": endpoint "a\tb": character '\t' is not allowed in a path`,
		}},
		{"duplicate pattern", `scopes:
  a:
    label: A
    endpoints:
      - x/*: GET
      - /x/*: POST
`, []string{`line 6: scope "a": endpoint "/x/*" is listed twice (first at line 5); list its methods once`}},
		{"methods", `scopes:
  a:
    label: A
    endpoints:
      - a: FETCH
      - b: []
      - c:
      - d: [GET, {x: y}]
      - e: GET, POST
      - f: {GET: true}
      - g: [get, "*"]
`, []string{
			`line 5: scope "a": endpoint "a": unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`,
			`line 6: scope "a": endpoint "b": empty method list; write the bare pattern to allow every method`,
			`line 7: scope "a": endpoint "c": no methods given; write the bare pattern to allow every method`,
			`line 8: scope "a": endpoint "d": a method must be a name such as GET`,
			`line 9: scope "a": endpoint "e": method "GET, POST": write several methods as a list, e.g. [GET, POST]`,
			`line 10: scope "a": endpoint "f": methods must be a method or a list of methods`,
			`line 11: scope "a": endpoint "g": unknown HTTP method "*" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`,
		}},
		{"problems in several scopes at once", `scopes:
  good: {label: Fine, endpoints: [ok]}
  bad one:
    label: X
  nolabel:
    endpoints: [a//b]
extra: 1
`, []string{
			`line 3: scope "bad one": character " " is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`line 5: scope "nolabel": missing label`,
			`line 6: scope "nolabel": endpoint "a//b": empty path segment ("//")`,
			`line 7: unknown top-level key "extra" (the only one is "scopes")`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := scope.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %d scopes, want errors:\n%s", c.Len(), strings.Join(tt.want, "\n"))
			}
			var pe *scope.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %q, want *scope.ParseError", err, err)
			}
			if diff := cmp.Diff(tt.want, pe.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	c, err := scope.Parse([]byte(`scopes:
  read:
    label: Read
    endpoints: &reads
      - items/*: GET
  read2:
    label: Read again
    endpoints: *reads
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, _ := c.Get("read2")
	if want := []scope.Endpoint{{Pattern: "items/*", Methods: []string{"GET"}}}; !cmp.Equal(s.Endpoints, want) {
		t.Errorf("read2 endpoints = %+v, want %+v", s.Endpoints, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("scopes:\n  a: {label: A}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("scopes:\n  a: {}\n  b: {label: B, endpoints: [x//]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := scope.Load(good)
	if err != nil || c.Len() != 1 || !c.Has("a") {
		t.Errorf("Load(good) = %v, %v; want catalog with scope a", c, err)
	}
	_, err = scope.Load(bad)
	want := bad + `: line 2: scope "a": missing label` + "\n" + bad + `: line 3: scope "b": endpoint "x//": empty path segment ("//")`
	if err == nil || err.Error() != want {
		t.Errorf("Load(bad) error = %v, want %q", err, want)
	}
	_, err = scope.Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) error = %v, want a not-exist error naming the file", err)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"api", []string{"api"}, ""},
		{"profile search api:read-only", []string{"profile", "search", "api:read-only"}, ""},
		{"a b a c b", []string{"a", "b", "c"}, ""},
		{"account:42 api", []string{"account:42", "api"}, ""},
		{"!#[]^~", []string{"!#[]^~"}, ""},
		{"a  b", nil, `invalid scope "a  b": empty scope token; separate scopes with exactly one space`},
		{" a", nil, `invalid scope " a": empty scope token; separate scopes with exactly one space`},
		{"a ", nil, `invalid scope "a ": empty scope token; separate scopes with exactly one space`},
		{" ", nil, `invalid scope " ": empty scope token; separate scopes with exactly one space`},
		{"a\tb", nil, `invalid scope token "a\tb": character "\t" is not allowed (RFC 6749 §3.3)`},
		{`api "x"`, nil, `invalid scope token "\"x\"": character "\"" is not allowed (RFC 6749 §3.3)`},
		{`a\b`, nil, `invalid scope token "a\\b": character "\\" is not allowed (RFC 6749 §3.3)`},
		{"caf\u00e9", nil, `invalid scope token "café": character "é" is not allowed (RFC 6749 §3.3)`},
		{"a\xff", nil, `invalid scope token "a\xff": character "\xff" is not allowed (RFC 6749 §3.3)`},
		{"ok " + strings.Repeat("x", 70) + "\x00", nil,
			`invalid scope token "` + strings.Repeat("x", 64) + `"…: character "\x00" is not allowed (RFC 6749 §3.3)`},
	}
	for _, tt := range tests {
		got, err := scope.Split(tt.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || !cmp.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestSplitManyDuplicates(t *testing.T) {
	var toks []string
	for i := range 100 {
		toks = append(toks, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	in := scope.Join(append(toks, toks...))
	got, err := scope.Split(in)
	if err != nil || !cmp.Equal(got, toks) {
		t.Errorf("Split(tokens twice) = %d tokens, %v; want the %d distinct tokens in order", len(got), err, len(toks))
	}
}

func TestJoin(t *testing.T) {
	if got, want := scope.Join([]string{"a", "b:c"}), "a b:c"; got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
	if got := scope.Join(nil); got != "" {
		t.Errorf("Join(nil) = %q, want empty", got)
	}
}

func TestAccountID(t *testing.T) {
	tests := []struct {
		in     string
		wantID string
		wantOK bool
	}{
		{"account:42", "42", true},
		{"account:Acme.eu_west-1", "Acme.eu_west-1", true},
		{"account:" + strings.Repeat("a", 128), strings.Repeat("a", 128), true},
		{"account:" + strings.Repeat("a", 129), "", false},
		{"account:", "", false},
		{"account:a/b", "", false},
		{"account:a:b", "", false},
		{"account:é", "", false},
		{"Account:42", "", false},
		{"api", "", false},
	}
	for _, tt := range tests {
		id, ok := scope.AccountID(tt.in)
		if id != tt.wantID || ok != tt.wantOK {
			t.Errorf("AccountID(%q) = %q, %v; want %q, %v", tt.in, id, ok, tt.wantID, tt.wantOK)
		}
	}
}

func allScopes(c *scope.Catalog) []scope.Scope {
	var out []scope.Scope
	for _, n := range c.Names() {
		s, ok := c.Get(n)
		if !ok {
			panic("Names lists " + n + " but Get does not find it")
		}
		out = append(out, s)
	}
	return out
}

func TestParseLimits(t *testing.T) {
	t.Run("problems", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("scopes:\n")
		for i := range 150 {
			fmt.Fprintf(&b, "  s%d: {}\n", i)
		}
		_, err := scope.Parse([]byte(b.String()))
		var pe *scope.ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error = %v, want *ParseError", err)
		}
		if got, want := len(pe.Problems), 101; got != want {
			t.Errorf("got %d problems, want %d", got, want)
		}
		if got, want := pe.Problems[len(pe.Problems)-1], "too many problems; fix these and try again"; got != want {
			t.Errorf("last problem = %q, want %q", got, want)
		}
	})
	t.Run("aliased endpoints", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("scopes:\n  s0:\n    label: L\n    endpoints: &e\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "      - p%d\n", i)
		}
		for i := 1; i <= 200; i++ {
			fmt.Fprintf(&b, "  s%d: {label: L, endpoints: *e}\n", i)
		}
		_, err := scope.Parse([]byte(b.String()))
		if err == nil || !strings.Contains(err.Error(), "more than 100000 endpoints in the catalog") {
			t.Errorf("error = %v, want one about too many endpoints", err)
		}
	})
}
