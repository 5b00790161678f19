package scope_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/scope"
)

// benchCatalog generates a catalog of n/10 scopes with 10 patterns each,
// mixing literals, "*" segments, trailing "*", patterns shared by prefix
// across scopes and patterns that start with "*".
func benchCatalog(tb testing.TB, n int) *scope.Catalog {
	tb.Helper()
	var b strings.Builder
	b.WriteString("scopes:\n")
	for s := range n / 10 {
		fmt.Fprintf(&b, `  svc%d:
    label: Service %d
    endpoints:
      - svc%d: [GET]
      - svc%d/items: [GET, POST]
      - svc%d/items/*: [GET, PUT, DELETE]
      - svc%d/items/*/history: GET
      - svc%d/*/meta: [GET, HEAD]
      - svc%d/admin/*: POST
      - shared/%d/*
      - "*/svc%d/reports": GET
      - tenants/*/svc%d/*: [GET, PATCH]
      - svc%d/items/*/notes/*: [GET, PUT]
`, s, s, s, s, s, s, s, s, s, s, s, s)
	}
	c, err := scope.Parse([]byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// benchCalls are what the benchmarks ask of a catalog from benchCatalog:
// allowed and denied calls for the scope in the middle, some through stars.
func benchCalls(n int) []struct {
	method string
	segs   []string
	want   bool
} {
	s := fmt.Sprint(n / 20)
	other := fmt.Sprint("svc", n/20+1)
	return []struct {
		method string
		segs   []string
		want   bool
	}{
		{"GET", []string{"svc" + s, "items", "42", "history"}, true},
		{"PUT", []string{"svc" + s, "items", "42", "notes", "7"}, true},
		{"GET", []string{"tenants", "acme", "svc" + s, "a", "b"}, true},
		{"GET", []string{"x", "svc" + s, "reports"}, true},
		{"POST", []string{"svc" + s, "items", "42", "history"}, false},
		{"GET", []string{"svc" + s, "other", "x"}, false},
		{"GET", []string{"nope", "items", "42"}, false},
		{"DELETE", []string{other, "items", "1"}, false}, // another scope's endpoint
	}
}

func benchAllows(b *testing.B, n int) {
	c := benchCatalog(b, n)
	set := c.SetOf([]string{fmt.Sprint("svc", n/20)})
	calls := benchCalls(n)
	for _, call := range calls {
		if got := c.Allows(set, call.method, call.segs); got != call.want {
			b.Fatalf("Allows(%s %q) = %v, want %v", call.method, call.segs, got, call.want)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		call := &calls[i%len(calls)]
		c.Allows(set, call.method, call.segs)
	}
}

// BenchmarkAllows matches one call (of a mix of allowed and denied ones)
// against a 1,000-pattern catalog of 100 scopes.
func BenchmarkAllows(b *testing.B) { benchAllows(b, 1000) }

// BenchmarkAllowsSize shows that the cost of Allows does not grow with the
// number of patterns.
func BenchmarkAllowsSize(b *testing.B) {
	for _, n := range []int{10, 1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) { benchAllows(b, n) })
	}
}

// BenchmarkAllowsDefault is the common case: the built-in catalog.
func BenchmarkAllowsDefault(b *testing.B) {
	c := scope.Default()
	set := c.SetOf([]string{"search", "profile"})
	segs := []string{"records", "7", "search"}
	b.ReportAllocs()
	for b.Loop() {
		c.Allows(set, "GET", segs)
	}
}

func BenchmarkSplitPath(b *testing.B) {
	for _, p := range []struct{ name, path string }{
		{"plain", "/svc50/items/42/history"},
		{"escaped", "/svc50/items/caf%C3%A9%20x/history"},
		{"dots", "/svc50/./items//42/x/../history/"},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scope.SplitPath(p.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSplitPathAllows is what a resource server does per request.
func BenchmarkSplitPathAllows(b *testing.B) {
	c := benchCatalog(b, 1000)
	set := c.SetOf([]string{"svc50"})
	b.ReportAllocs()
	for b.Loop() {
		segs, err := scope.SplitPath("/svc50/items/42/history")
		if err != nil || !c.Allows(set, "GET", segs) {
			b.Fatal("not allowed")
		}
	}
}

// BenchmarkAllowsRules is BenchmarkAllows for a catalog as an OpenAPI
// document derives it (scope.New, MostSpecific): n/10 services of ten
// operations each, with AND requirements, OR alternatives, {param}
// segments and concrete paths beside templates.
func BenchmarkAllowsRules(b *testing.B) {
	const n = 1000
	var d scope.Definition
	d.MostSpecific = true
	for s := range n / 10 {
		read, write, admin := fmt.Sprint("svc", s, ":read"), fmt.Sprint("svc", s, ":write"), fmt.Sprint("svc", s, ":admin")
		d.Scopes = append(d.Scopes, scope.Scope{Name: read, Label: "R"}, scope.Scope{Name: write, Label: "W"}, scope.Scope{Name: admin, Label: "A"})
		p := fmt.Sprint("svc", s)
		d.Rules = append(d.Rules,
			scope.Rule{Pattern: p + "/items", Methods: []string{"GET"}, Scopes: []string{read}},
			scope.Rule{Pattern: p + "/items", Methods: []string{"POST"}, Scopes: []string{write}},
			scope.Rule{Pattern: p + "/items/{id}", Methods: []string{"GET"}, Scopes: []string{read}},
			scope.Rule{Pattern: p + "/items/{id}", Methods: []string{"DELETE"}, Scopes: []string{write, admin}},
			scope.Rule{Pattern: p + "/items/{id}", Methods: []string{"PATCH"}, Scopes: []string{write}},
			scope.Rule{Pattern: p + "/items/{id}", Methods: []string{"PATCH"}, Scopes: []string{admin}},
			scope.Rule{Pattern: p + "/items/mine", Methods: []string{"GET"}, Scopes: []string{read, write}},
			scope.Rule{Pattern: p + "/items/{id}/history", Methods: []string{"GET"}, Scopes: []string{read, admin}},
			scope.Rule{Pattern: "tenants/{t}/" + p + "/{x}", Methods: []string{"GET"}, Scopes: []string{read}},
			scope.Rule{Pattern: p + "/status", Methods: []string{"GET"}, Public: true},
		)
	}
	c, err := scope.New(d)
	if err != nil {
		b.Fatal(err)
	}
	s := fmt.Sprint("svc", n/20)
	set := c.SetOf([]string{s + ":write", s + ":admin"})
	calls := []struct {
		method string
		segs   []string
		want   bool
	}{
		{"DELETE", []string{s, "items", "42"}, true},
		{"PATCH", []string{s, "items", "42"}, true},
		{"GET", []string{s, "items", "mine"}, false},
		{"GET", []string{s, "items", "42", "history"}, false},
		{"GET", []string{"tenants", "acme", s, "x"}, false},
		{"GET", []string{s, "status"}, true},
		{"POST", []string{s, "items", "42"}, false},
		{"DELETE", []string{"nope", "items", "42"}, false},
	}
	for _, call := range calls {
		if got := c.Allows(set, call.method, call.segs); got != call.want {
			b.Fatalf("Allows(%s %q) = %v, want %v", call.method, call.segs, got, call.want)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		call := &calls[i%len(calls)]
		c.Allows(set, call.method, call.segs)
	}
}
