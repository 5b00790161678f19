package scope_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

// shop is a definition as an OpenAPI document of a shop gives it: AND and
// OR requirements, a concrete path beside a template, a HEAD operation with
// security of its own, a public and an any-token operation.
func shop(specific bool) scope.Definition {
	return scope.Definition{
		Scopes: []scope.Scope{
			{Name: "orders:read", Label: "Read orders"},
			{Name: "orders:write", Label: "Change orders"},
			{Name: "customers:read", Label: "Read customers"},
			{Name: "admin", Label: "Administer"},
		},
		Rules: []scope.Rule{
			{Pattern: "orders/{id}", Methods: []string{"GET"}, Scopes: []string{"orders:read"}},
			{Pattern: "orders/{id}", Methods: []string{"DELETE"}, Scopes: []string{"admin", "orders:write"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"orders:write"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH", "HEAD"}, Scopes: []string{"admin"}},
			{Pattern: "orders/mine", Methods: []string{"GET"}, Scopes: []string{"customers:read"}},
			{Pattern: "orders/{id}/items/{item}", Methods: []string{"GET"}, Scopes: []string{"orders:read", "customers:read"}},
			{Pattern: "status", Methods: []string{"GET"}, Public: true},
			{Pattern: "me", Methods: []string{"GET"}, Scopes: []string{}},
		},
		MostSpecific: specific,
	}
}

func TestRules(t *testing.T) {
	c, err := scope.New(shop(true))
	if err != nil {
		t.Fatal(err)
	}
	var (
		none   = []string{}
		read   = []string{"orders:read"}
		write  = []string{"orders:write"}
		admin  = []string{"admin"}
		cust   = []string{"customers:read"}
		rw     = []string{"orders:read", "orders:write"}
		wa     = []string{"orders:write", "admin"}
		rc     = []string{"orders:read", "customers:read"}
		acct   = []string{"account:42"}
		all    = []string{"orders:read", "orders:write", "customers:read", "admin"}
		anyTok = [][]string{none, read, write, admin, cust, acct, all}
	)
	tests := []struct {
		method, path string
		allowed      [][]string // token scope sets allowed
		refused      [][]string // and refused
		required     string     // Required for the empty set
		public       bool
	}{
		// A rule of one scope; a literal segment beats {id}.
		{"GET", "/orders/7", [][]string{read, rw, all}, [][]string{none, write, admin, cust}, "orders:read", false},
		{"GET", "/orders/mine", [][]string{cust, all}, [][]string{none, read, rw, admin}, "customers:read", false},
		// AND: orders:write and admin together.
		{"DELETE", "/orders/7", [][]string{wa, all}, [][]string{none, write, admin, rw}, "orders:write admin", false},
		// OR: orders:write, or admin.
		{"PATCH", "/orders/7", [][]string{write, admin, wa}, [][]string{none, read, cust}, "orders:write admin", false},
		// HEAD has its own rule: GET's scope does not allow it.
		{"HEAD", "/orders/7", [][]string{admin}, [][]string{read, write, rw}, "admin", false},
		// orders/mine has no HEAD rule: its GET allows HEAD.
		{"HEAD", "/orders/mine", [][]string{cust}, [][]string{read, admin}, "customers:read", false},
		// orders/mine has no DELETE rule, so orders/{id} decides DELETE.
		{"DELETE", "/orders/mine", [][]string{wa}, [][]string{admin, write, cust}, "orders:write admin", false},
		{"GET", "/orders/7/items/1", [][]string{rc, all}, [][]string{read, cust, none}, "orders:read customers:read", false},
		// {id} is one segment, also as the last one.
		{"GET", "/orders/7/8", nil, anyTok, "", false},
		{"GET", "/orders", nil, anyTok, "", false},
		// Public, and any token.
		{"GET", "/status", anyTok, nil, "", true},
		{"HEAD", "/status", anyTok, nil, "", true},
		{"POST", "/status", nil, anyTok, "", false},
		{"GET", "/me", anyTok, nil, "", false},
		{"GET", "/", nil, anyTok, "", false},
	}
	for _, tt := range tests {
		segs, err := scope.SplitPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		call := tt.method + " " + tt.path
		for _, s := range tt.allowed {
			if !c.Allows(c.SetOf(s), tt.method, segs) {
				t.Errorf("%s: Allows(%q) = false, want true", call, s)
			}
		}
		for _, s := range tt.refused {
			if c.Allows(c.SetOf(s), tt.method, segs) {
				t.Errorf("%s: Allows(%q) = true, want false", call, s)
			}
		}
		if got := strings.Join(c.Required(scope.Set{}, tt.method, segs), " "); got != tt.required {
			t.Errorf("%s: Required = %q, want %q", call, got, tt.required)
		}
		if got := c.Public(tt.method, segs); got != tt.public {
			t.Errorf("%s: Public = %v, want %v", call, got, tt.public)
		}
	}
}

func TestRulesUnion(t *testing.T) {
	// Without MostSpecific every matching pattern counts, as in a YAML
	// catalog: orders/{id} also takes orders/mine, and GET allows HEAD
	// wherever a HEAD rule is.
	c, err := scope.New(shop(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
		scopes       []string
		want         bool
	}{
		{"GET", "/orders/mine", []string{"orders:read"}, true},
		{"GET", "/orders/mine", []string{"customers:read"}, true},
		{"HEAD", "/orders/7", []string{"orders:read"}, true},
		{"DELETE", "/orders/7", []string{"admin"}, false},
		{"DELETE", "/orders/7", []string{"admin", "orders:write"}, true},
	} {
		segs, _ := scope.SplitPath(tt.path)
		if got := c.Allows(c.SetOf(tt.scopes), tt.method, segs); got != tt.want {
			t.Errorf("%s %s with %q: Allows = %v, want %v", tt.method, tt.path, tt.scopes, got, tt.want)
		}
	}
}

func TestRequiredPrefersWhatTheTokenHas(t *testing.T) {
	c, err := scope.New(scope.Definition{
		Scopes: []scope.Scope{{Name: "a", Label: "A"}, {Name: "b", Label: "B"}, {Name: "c", Label: "C"}, {Name: "d", Label: "D"}},
		Rules: []scope.Rule{
			{Pattern: "x", Scopes: []string{"c", "d"}},
			{Pattern: "x", Scopes: []string{"a", "b", "c"}},
			{Pattern: "x", Scopes: []string{"a", "d"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	segs := []string{"x"}
	for _, tt := range []struct {
		token []string
		want  string
	}{
		{nil, "c d"},                // the first of the smallest
		{[]string{"a"}, "a d"},      // one missing
		{[]string{"a", "b"}, "a d"}, // one missing from "a b c" and "a d": the smaller
		{[]string{"c"}, "c d"},
	} {
		if got := strings.Join(c.Required(c.SetOf(tt.token), "GET", segs), " "); got != tt.want {
			t.Errorf("Required(%q) = %q, want %q", tt.token, got, tt.want)
		}
	}
}

func TestRulesFor(t *testing.T) {
	c, err := scope.New(shop(true))
	if err != nil {
		t.Fatal(err)
	}
	got := c.RulesFor("PATCH", []string{"orders", "7"})
	want := []scope.Rule{
		{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"orders:write"}},
		{Pattern: "orders/{id}", Methods: []string{"PATCH", "HEAD"}, Scopes: []string{"admin"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RulesFor(PATCH orders/7) (-want +got):\n%s", diff)
	}
	// The AND rule's scopes are in catalog order, whatever the order given.
	got = c.RulesFor("DELETE", []string{"orders", "7"})
	if want := []string{"orders:write", "admin"}; len(got) != 1 || !cmp.Equal(got[0].Scopes, want) {
		t.Errorf("RulesFor(DELETE orders/7) = %+v, want one rule of %q", got, want)
	}
	if got := c.RulesFor("GET", []string{"nothing"}); got != nil {
		t.Errorf("RulesFor(GET nothing) = %+v, want nil", got)
	}
}

func TestExplainWith(t *testing.T) {
	c, err := scope.New(shop(true))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Explain("DELETE", []string{"orders", "7"})
	want := []scope.Explanation{
		{Scope: "orders:read", Pattern: "orders/{id}", Methods: []string{"GET"}},
		{Scope: "orders:write", Pattern: "orders/{id}", Methods: []string{"DELETE"}, With: []string{"admin"}},
		{Scope: "customers:read"},
		{Scope: "admin", Pattern: "orders/{id}", Methods: []string{"DELETE"}, With: []string{"orders:write"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Explain(DELETE orders/7) (-want +got):\n%s", diff)
	}
	// Only the deciding pattern counts: orders/{id} does not explain
	// orders/mine's GET.
	got = c.Explain("GET", []string{"orders", "mine"})
	want = []scope.Explanation{
		{Scope: "orders:read"},
		{Scope: "orders:write"},
		{Scope: "customers:read", Allowed: true, Pattern: "orders/mine", Methods: []string{"GET"}},
		{Scope: "admin"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Explain(GET orders/mine) (-want +got):\n%s", diff)
	}
	// Scopes list each rule under each of their scopes.
	s, _ := c.Get("admin")
	wantEps := []scope.Endpoint{
		{Pattern: "orders/{id}", Methods: []string{"DELETE"}, With: []string{"orders:write"}},
		{Pattern: "orders/{id}", Methods: []string{"PATCH", "HEAD"}},
	}
	if diff := cmp.Diff(wantEps, s.Endpoints); diff != "" {
		t.Errorf("admin's endpoints (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	ok := []scope.Scope{{Name: "a", Label: "A"}, {Name: "b", Label: "B"}}
	tests := []struct {
		name string
		def  scope.Definition
		want []string
	}{
		{"nothing", scope.Definition{}, []string{"the catalog defines no scopes"}},
		{"bad scopes", scope.Definition{Scopes: []scope.Scope{
			{Name: "a b", Label: "x"}, {Name: "account:1", Label: "x"}, {Name: "c", Label: " "}, {Name: "d", Label: "two\nlines"}, {Name: "e", Label: "E"}, {Name: "e", Label: "E"},
		}}, []string{
			`scope "a b": character " " is not allowed in a scope name (RFC 6749 §3.3: printable ASCII except space, '"' and '\')`,
			`scope "account:1": the "account:" prefix is reserved for account-restricted tokens`,
			`scope "c": missing label`,
			`scope "d": label contains a control character (line break or tab); keep it on one line`,
			`scope "e" is defined twice`,
		}},
		{"bad rules", scope.Definition{Scopes: ok, Rules: []scope.Rule{
			{Pattern: "a//b", Scopes: []string{"a"}},
			{Pattern: "x", Methods: []string{"FETCH"}, Scopes: []string{"a"}},
			{Pattern: "x", Methods: []string{}, Scopes: []string{"a"}},
			{Pattern: "y", Scopes: []string{"a", "z"}},
			{Pattern: "y", Scopes: []string{"a", "a"}},
			{Pattern: "p", Scopes: []string{"a"}, Public: true},
			{Pattern: "q/{id", Scopes: []string{"a"}},
			{Pattern: "q/{}", Scopes: []string{"a"}},
			{Pattern: "r", Methods: []string{"GET"}, Scopes: []string{"a", "b"}},
			{Pattern: "r", Methods: []string{"POST"}, Scopes: []string{"b", "a"}},
		}}, []string{
			`rule "a//b": empty path segment ("//")`,
			`rule "x" [FETCH]: unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`,
			`rule "x" []: empty method list; give no list to allow every method`,
			`rule "y": scope "z" is not defined`,
			`rule "y": scope "a" is named twice`,
			`rule "p": a public rule needs no scope; it names a`,
			`rule "q/{id": segment "{id" has unbalanced braces`,
			`rule "q/{}": segment "{}" has a parameter without a name`,
			`rule "r" [POST] is given twice with different methods; list its methods once`,
		}},
		{"endpoint with", scope.Definition{Scopes: []scope.Scope{
			{Name: "a", Label: "A", Endpoints: []scope.Endpoint{{Pattern: "x", With: []string{"nope"}}}},
		}}, []string{`rule "x": scope "nope" is not defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := scope.New(tt.def)
			pe, isPE := err.(*scope.ParseError)
			if c != nil || !isPE {
				t.Fatalf("New = %v, %v; want nil and a *ParseError", c, err)
			}
			if diff := cmp.Diff(tt.want, pe.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewSameRuleTwice(t *testing.T) {
	// An AND rule given under each of its scopes counts once.
	c, err := scope.New(scope.Definition{Scopes: []scope.Scope{
		{Name: "a", Label: "A", Endpoints: []scope.Endpoint{{Pattern: "/x", Methods: []string{"get"}, With: []string{"b"}}}},
		{Name: "b", Label: "B", Endpoints: []scope.Endpoint{{Pattern: "x", Methods: []string{"GET"}, With: []string{"a"}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []scope.Rule{{Pattern: "x", Methods: []string{"GET"}, Scopes: []string{"a", "b"}}}
	if diff := cmp.Diff(want, c.Rules()); diff != "" {
		t.Errorf("Rules (-want +got):\n%s", diff)
	}
	if c.Allows(c.SetOf([]string{"a"}), "GET", []string{"x"}) || !c.Allows(c.SetOf([]string{"a", "b"}), "GET", []string{"x"}) {
		t.Error("x needs a and b together")
	}
}

func TestYAMLCatalogRules(t *testing.T) {
	// A YAML catalog's rules are its scopes' endpoints, one scope each;
	// "{id}" there is a literal segment, as it always was.
	c, err := scope.Parse([]byte("scopes:\n  a:\n    label: A\n    endpoints:\n      - x/{id}: GET\n      - y\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []scope.Rule{
		{Pattern: "x/{id}", Methods: []string{"GET"}, Scopes: []string{"a"}},
		{Pattern: "y", Scopes: []string{"a"}},
	}
	if diff := cmp.Diff(want, c.Rules()); diff != "" {
		t.Errorf("Rules (-want +got):\n%s", diff)
	}
	set := c.SetOf([]string{"a"})
	if c.Allows(set, "GET", []string{"x", "7"}) || !c.Allows(set, "GET", []string{"x", "{id}"}) {
		t.Error(`in a YAML catalog "{id}" is not a literal segment`)
	}
	if c.MostSpecific() || c.Public("GET", []string{"y"}) {
		t.Error("a YAML catalog is MostSpecific or has a public rule")
	}
}

func TestMerge(t *testing.T) {
	base := func() scope.Definition {
		return scope.Definition{
			Scopes: []scope.Scope{{Name: "read", Label: "Read orders"}, {Name: "write"}, {Name: "admin", Label: "Admin"}},
			Rules: []scope.Rule{
				{Pattern: "orders", Methods: []string{"GET"}, Scopes: []string{"read"}},
				{Pattern: "orders/{id}", Methods: []string{"GET", "HEAD"}, Scopes: []string{"read"}},
				{Pattern: "orders", Methods: []string{"POST"}, Scopes: []string{"write", "admin"}},
			},
			MostSpecific: true,
		}
	}
	tests := []struct {
		name   string
		yaml   string
		want   []scope.Scope // labels and flags only
		errors []string
	}{
		{"labels and flags", `
scopes:
  write:
    label: Change orders
    default: true
  read:
    label: "  Read orders "
    self_service: true
`, []scope.Scope{
			{Name: "read", Label: "Read orders", SelfService: true},
			{Name: "write", Label: "Change orders", Default: true},
			{Name: "admin", Label: "Admin"},
		}, nil},
		{"unwrapped, endpoints the same", `
read:
  endpoints:
    - /orders/{id}: [HEAD, get]
    - orders: GET
write: {label: W}
`, []scope.Scope{{Name: "read", Label: "Read orders"}, {Name: "write", Label: "W"}, {Name: "admin", Label: "Admin"}}, nil},
		{"conflicts", `
scopes:
  read:
    label: Read your orders
    endpoints:
      - orders: [GET, POST]
  write:
    label: W
    endpoints: []
  admin:
    endpoints:
      - orders: POST
  nope:
    label: Not in the document
`, nil, []string{
			`line 4: scope "read": label "Read your orders" conflicts with the description "Read orders" in the API description; keep one of them, or make them the same`,
			`line 5: scope "read": endpoints differ from the API description's (there: orders [GET], orders/{id} [GET, HEAD]; here: orders [GET, POST]); leave them out, the API description gives them`,
			`line 9: scope "write": endpoints cannot be given here: in the API description the scope allows some endpoints only together with other scopes; leave them out, the API description gives them`,
			`line 11: scope "admin": endpoints cannot be given here: in the API description the scope allows some endpoints only together with other scopes; leave them out, the API description gives them`,
			`line 13: scope "nope" is not a scope of the API description (the OpenAPI document's oauth2 security schemes); a YAML catalog merged with it can only describe those`,
		}},
		{"a scope that says nothing", "scopes:\n  read:\n  write: {label: W}\n", nil, []string{
			`line 2: scope "read": says nothing; give a label, default or self_service, or remove it`,
		}},
		{"syntax", "scopes: [", nil, []string{"line 1: did not find expected node content"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			err := d.Merge([]byte(tt.yaml))
			if tt.errors != nil {
				pe, ok := err.(*scope.ParseError)
				if !ok {
					t.Fatalf("Merge = %v, want a *ParseError", err)
				}
				if diff := cmp.Diff(tt.errors, pe.Problems); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(base(), d); diff != "" {
					t.Errorf("a failed Merge changed the definition (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if _, err := scope.New(d); err != nil {
				t.Errorf("New after Merge: %v", err)
			}
		})
	}
}

func TestAllowsWithRulesDoesNotAllocate(t *testing.T) {
	c, err := scope.New(shop(true))
	if err != nil {
		t.Fatal(err)
	}
	wa := c.SetOf([]string{"orders:write", "admin"})
	item := []string{"orders", "7", "items", "1"}
	order := []string{"orders", "7"}
	allocs := testing.AllocsPerRun(100, func() {
		if !c.Allows(wa, "DELETE", order) || c.Allows(wa, "GET", item) || !c.Allows(scope.Set{}, "GET", []string{"status"}) {
			t.Fatal("wrong answer")
		}
	})
	if allocs != 0 {
		t.Errorf("Allows allocates %v times per call, want 0", allocs)
	}
}
