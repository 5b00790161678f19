package scope_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

type matchCase struct {
	method, path string
	want         []string // scopes allowing the call, in catalog order
}

// checkMatches checks Allowing, Allows (for each scope alone, for all scopes
// together and for the empty set) and Explain against the wanted scopes.
// Paths are split allowing encoded slashes, so that segments holding a "/"
// can be matched.
func checkMatches(t *testing.T, c *scope.Catalog, tests []matchCase) {
	t.Helper()
	all := c.SetOf(c.Names())
	rules := scope.PathRules{AllowEncodedSlash: true}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			segs, err := rules.Split(tt.path)
			if err != nil {
				t.Fatalf("SplitPath(%q): %v", tt.path, err)
			}
			if got := c.Allowing(tt.method, segs); !cmp.Equal(got, tt.want) {
				t.Errorf("Allowing = %q, want %q", got, tt.want)
			}
			for _, name := range c.Names() {
				want := slices.Contains(tt.want, name)
				if got := c.Allows(c.SetOf([]string{name}), tt.method, segs); got != want {
					t.Errorf("Allows(%s) = %v, want %v", name, got, want)
				}
			}
			if got, want := c.Allows(all, tt.method, segs), len(tt.want) > 0; got != want {
				t.Errorf("Allows(every scope) = %v, want %v", got, want)
			}
			if c.Allows(scope.Set{}, tt.method, segs) {
				t.Errorf("Allows(empty set) = true, want false")
			}
			var explained []string
			for _, e := range c.Explain(tt.method, segs) {
				if e.Allowed {
					explained = append(explained, e.Scope)
				}
			}
			if !cmp.Equal(explained, tt.want) {
				t.Errorf("Explain allows %q, want %q", explained, tt.want)
			}
		})
	}
}

func TestAllowsDefault(t *testing.T) {
	var (
		all      = []string{"api"}
		read     = []string{"api:read-only", "api"}
		search   = []string{"search", "api:read-only", "api"}
		profile  = []string{"profile", "api:read-only", "api"}
		profileW = []string{"api"} // writes to workers/me
	)
	checkMatches(t, scope.Default(), []matchCase{
		// api:read-only: GET and HEAD anywhere; api: everything anywhere.
		{"GET", "/records/1", read},
		{"HEAD", "/records/1", read},
		{"POST", "/records", all},
		{"PUT", "/records/1", all},
		{"PATCH", "/records/1", all},
		{"DELETE", "/records/1", all},
		{"OPTIONS", "/records/1", all},
		{"GET", "/a/b/c/d/e/f/g", read},
		// Methods a catalog cannot name are allowed only by "every method";
		// methods are case-sensitive.
		{"TRACE", "/records/1", all},
		{"PROPFIND", "/records/1", all},
		{"get", "/records/1", all},
		{"", "/records/1", all},
		// "*" matches any segment, decoded.
		{"GET", "/records%2F1", read},
		{"DELETE", "/%2F%2F%2F", all},
		{"GET", "/records/%25", read},
		{"GET", "/café/%E2%98%83", read},
		// The root matches nothing.
		{"GET", "/workers/me/../..", nil},
		{"GET", "/", nil},
		{"GET", "", nil},
		{"POST", "/", nil},

		// search: GET records/*/search only.
		{"GET", "/records/7/search", search},
		{"HEAD", "/records/7/search", search},
		{"GET", "/records/abc-def/search/", search},
		{"GET", "/records/7%2F8/search", search}, // "*" matches a segment holding "/"
		{"POST", "/records/7/search", all},
		{"GET", "/records/7/search/x", read},
		{"GET", "/records/search", read},
		{"GET", "/records/7/8/search", read},
		{"GET", "/records//search", read}, // "//" is dropped: records/search
		{"GET", "/records/7/Search", read},
		{"GET", "/records%2F7%2Fsearch", read},
		{"GET", "/x/records/7/search", read},

		// profile: GET workers/me only.
		{"GET", "/workers/me", profile},
		{"HEAD", "/workers/me", profile},
		{"POST", "/workers/me", profileW},
		{"DELETE", "/workers/me", profileW},
		{"GET", "/workers/me/", profile},
		{"GET", "/workers/me/x", read},
		{"GET", "/workers", read},
		{"GET", "/workers/you", read},
		{"GET", "/workers/me/../../admin", read},
		{"GET", "/workers/me/../me", profile},
	})
}

func TestAllowsCustom(t *testing.T) {
	c, err := scope.Parse([]byte(`
scopes:
  files:
    label: Files below files/
    endpoints:
      - files/*: [GET]
  file-meta:
    label: One level of star, then a literal
    endpoints:
      - files/*/meta: [GET, PUT]
  readme:
    label: One literal file
    endpoints:
      - files/readme: [DELETE]
  top:
    label: Every top-level collection and its members
    endpoints:
      - "*/*/info": HEAD
      - "*": POST
  deep:
    label: Two stars then the rest
    endpoints:
      - a/*/*/*
  literal:
    label: A literal that overlaps a star
    endpoints:
      - a/b/c/d
      - a/b: OPTIONS
  nothing:
    label: Grants nothing
`))
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, c, []matchCase{
		// A trailing "*" matches one or more segments, not zero.
		{"GET", "/files", nil},
		{"GET", "/files/a", []string{"files"}},
		{"GET", "/files/a/b", []string{"files"}},
		{"GET", "/files/a/b/c/d", []string{"files"}},
		{"HEAD", "/files/a/b", []string{"files"}},
		{"PUT", "/files/a", nil},
		// files/*/meta overlaps files/*.
		{"GET", "/files/a/meta", []string{"files", "file-meta"}},
		{"PUT", "/files/a/meta", []string{"file-meta"}},
		{"PUT", "/files/a/meta/x", nil},
		{"PUT", "/files/meta", nil},
		{"PUT", "/files/readme/meta", []string{"file-meta"}},
		// files/readme overlaps files/*: the literal does not hide the star.
		{"DELETE", "/files/readme", []string{"readme"}},
		{"GET", "/files/readme", []string{"files"}},
		{"DELETE", "/files/readme/x", nil},
		{"DELETE", "/files/README", nil},
		// "*" (every path of one or more segments) and */*/info.
		{"POST", "/files", []string{"top"}},
		{"POST", "/x/y/z", []string{"top"}},
		{"POST", "/", nil},
		{"HEAD", "/files/1/info", []string{"files", "top"}},
		{"HEAD", "/x/1/info", []string{"top"}},
		{"GET", "/x/1/info", nil}, // HEAD does not allow GET
		{"HEAD", "/x/info", nil},
		{"HEAD", "/x/1/2/info", nil},
		// a/*/*/*: at least four segments.
		{"DELETE", "/a/b/c", nil},
		{"DELETE", "/a/b/c/d", []string{"deep", "literal"}},
		{"DELETE", "/a/x/c/d", []string{"deep"}},
		{"DELETE", "/a/b/c/d/e", []string{"deep"}},
		{"OPTIONS", "/a/b", []string{"literal"}},
		{"OPTIONS", "/a/b/c", nil},
		{"POST", "/a/b", []string{"top"}},
	})
}

func TestExplain(t *testing.T) {
	c, err := scope.Parse([]byte(`
scopes:
  read:
    label: Read
    endpoints:
      - records/*: [GET]
      - records/7: [DELETE]
      - records/*/search: [GET]
      - "*": [GET]
  write:
    label: Write
    endpoints:
      - records/*: [POST, PUT]
  all:
    label: All
    endpoints:
      - "*"
  none:
    label: None
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         []scope.Explanation
	}{
		{"GET", "/records/7", []scope.Explanation{
			{Scope: "read", Allowed: true, Pattern: "records/*", Methods: []string{"GET"}},
			{Scope: "write", Pattern: "records/*", Methods: []string{"POST", "PUT"}},
			{Scope: "all", Allowed: true, Pattern: "*"},
			{Scope: "none"},
		}},
		{"HEAD", "/records/7/search", []scope.Explanation{
			{Scope: "read", Allowed: true, Pattern: "records/*", Methods: []string{"GET"}},
			{Scope: "write", Pattern: "records/*", Methods: []string{"POST", "PUT"}},
			{Scope: "all", Allowed: true, Pattern: "*"},
			{Scope: "none"},
		}},
		// The first endpoint that allows the call, in catalog order.
		{"DELETE", "/records/7", []scope.Explanation{
			{Scope: "read", Allowed: true, Pattern: "records/7", Methods: []string{"DELETE"}},
			{Scope: "write", Pattern: "records/*", Methods: []string{"POST", "PUT"}},
			{Scope: "all", Allowed: true, Pattern: "*"},
			{Scope: "none"},
		}},
		// Denied: the first endpoint matching the path names the methods.
		{"PATCH", "/records/8", []scope.Explanation{
			{Scope: "read", Pattern: "records/*", Methods: []string{"GET"}},
			{Scope: "write", Pattern: "records/*", Methods: []string{"POST", "PUT"}},
			{Scope: "all", Allowed: true, Pattern: "*"},
			{Scope: "none"},
		}},
		{"POST", "/orders", []scope.Explanation{
			{Scope: "read", Pattern: "*", Methods: []string{"GET"}},
			{Scope: "write"},
			{Scope: "all", Allowed: true, Pattern: "*"},
			{Scope: "none"},
		}},
		{"GET", "/", []scope.Explanation{
			{Scope: "read"}, {Scope: "write"}, {Scope: "all"}, {Scope: "none"},
		}},
	}
	for _, tt := range tests {
		segs, err := scope.SplitPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, c.Explain(tt.method, segs)); diff != "" {
			t.Errorf("Explain(%s %s) (-want +got):\n%s", tt.method, tt.path, diff)
		}
	}
	// The result is a copy.
	segs := []string{"records", "7"}
	c.Explain("GET", segs)[0].Methods[0] = "POST"
	if got := c.Explain("GET", segs)[0].Methods; !cmp.Equal(got, []string{"GET"}) {
		t.Errorf("catalog changed through Explain's result: methods %q", got)
	}
}

func TestSetOf(t *testing.T) {
	c := scope.Default()
	if !c.SetOf(nil).Empty() || !(scope.Set{}).Empty() {
		t.Error("SetOf(nil) or Set{} is not empty")
	}
	s := c.SetOf([]string{"account:42", "nope", "admin"})
	if !s.Empty() {
		t.Error("SetOf(names not in the catalog) is not empty")
	}
	s = c.SetOf([]string{"account:42", "search"})
	if s.Empty() {
		t.Error("SetOf(account:42 search) is empty")
	}
	if !c.Allows(s, "GET", []string{"records", "1", "search"}) || c.Allows(s, "GET", []string{"records", "1"}) {
		t.Error("SetOf(account:42 search) does not behave as search")
	}
	// A zero Catalog allows nothing and does not panic.
	var zero scope.Catalog
	if zero.Allows(s, "GET", []string{"x"}) || zero.Allowing("GET", []string{"x"}) != nil || len(zero.Explain("GET", nil)) != 0 {
		t.Error("zero Catalog allows something")
	}
}

// TestManyScopes checks catalogs with more than 64 scopes, whose sets need
// more than one word.
func TestManyScopes(t *testing.T) {
	const n = 200
	var b strings.Builder
	b.WriteString("scopes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  s%d:\n    label: S\n    endpoints:\n      - items/%d: GET\n      - shared/*: [POST]\n", i, i)
		if i%50 == 49 {
			fmt.Fprintf(&b, "      - every/*\n")
		}
		if 64 <= i && i < 80 {
			fmt.Fprintf(&b, "      - items/*: [DELETE]\n")
		}
		if i == 150 || i == 3 {
			fmt.Fprintf(&b, "      - \"*\": [DELETE]\n")
		}
	}
	c, err := scope.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 63, 64, 127, 128, 199} {
		name := fmt.Sprint("s", i)
		own := c.SetOf([]string{name})
		if !c.Allows(own, "GET", []string{"items", fmt.Sprint(i)}) {
			t.Errorf("%s may not GET items/%d", name, i)
		}
		if c.Allows(own, "GET", []string{"items", fmt.Sprint(i + 1)}) {
			t.Errorf("%s may GET items/%d", name, i+1)
		}
		if got, want := c.Allowing("GET", []string{"items", fmt.Sprint(i)}), []string{name}; !cmp.Equal(got, want) {
			t.Errorf("Allowing(GET items/%d) = %q, want %q", i, got, want)
		}
	}
	if got := c.Allowing("POST", []string{"shared", "x"}); len(got) != n {
		t.Errorf("Allowing(POST shared/x) has %d scopes, want %d", len(got), n)
	}
	if got, want := c.Allowing("DELETE", []string{"every", "x"}), []string{"s3", "s49", "s99", "s149", "s150", "s199"}; !cmp.Equal(got, want) {
		t.Errorf("Allowing(DELETE every/x) = %q, want %q", got, want)
	}
	// Leaves with scopes in different words: s3 and s150 from "*", s64-s79
	// from items/*.
	want := []string{"s3"}
	for i := 64; i < 80; i++ {
		want = append(want, fmt.Sprint("s", i))
	}
	want = append(want, "s150")
	if got := c.Allowing("DELETE", []string{"items", "x"}); !cmp.Equal(got, want) {
		t.Errorf("Allowing(DELETE items/x) = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		names []string
		want  bool
	}{
		{[]string{"s199", "s130", "s70"}, true},
		{[]string{"s199", "s130", "s80"}, false},
		{[]string{"s150"}, true},
		{[]string{"s199", "s64"}, true},
		{[]string{"s199", "s0", "s128", "s63"}, false},
		{[]string{"s199", "s0", "s128", "s3"}, true},
	} {
		if got := c.Allows(c.SetOf(tt.names), "DELETE", []string{"items", "x"}); got != tt.want {
			t.Errorf("%q may DELETE items/x = %v, want %v", tt.names, got, tt.want)
		}
	}
	if c.Allows(c.SetOf([]string{"s0", "s70", "s130"}), "DELETE", []string{"every", "x"}) {
		t.Error("s0 s70 s130 may DELETE every/x")
	}
	if !c.Allows(c.SetOf([]string{"s0", "s70", "s199"}), "DELETE", []string{"every", "x"}) {
		t.Error("s0 s70 s199 may not DELETE every/x")
	}
}

func TestAllowsDoesNotAllocate(t *testing.T) {
	c := scope.Default()
	s := c.SetOf([]string{"search", "profile"})
	segs := []string{"records", "7", "search"}
	deny := []string{"records", "7", "search", "x"}
	allocs := testing.AllocsPerRun(100, func() {
		if !c.Allows(s, "GET", segs) || c.Allows(s, "GET", deny) {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("Allows allocates %v times per call, want 0", allocs)
	}
}
