package scope_test

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/scope"
)

func ExampleParse() {
	c, err := scope.Parse([]byte(`
scopes:
  orders:read:
    label: Read your orders
    endpoints:
      - orders/*: [GET]
      - /customers/me: get
  orders:
    label: Read and change your orders
    endpoints:
      - orders/*
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range c.Names() {
		s, _ := c.Get(name)
		fmt.Printf("%s (%s)\n", s.Name, s.Label)
		for _, e := range s.Endpoints {
			fmt.Printf("  %s %v\n", e.Pattern, e.Methods)
		}
	}

	_, err = scope.Parse([]byte(`
scopes:
  admin:
    endpoints:
      - admin//users: [GET, FETCH]
`))
	fmt.Println(err)
	// Output:
	// orders:read (Read your orders)
	//   orders/* [GET]
	//   customers/me [GET]
	// orders (Read and change your orders)
	//   orders/* []
	// line 3: scope "admin": missing label
	// line 5: scope "admin": endpoint "admin//users": empty path segment ("//")
	// line 5: scope "admin": endpoint "admin//users": unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)
}

func ExampleSplit() {
	toks, err := scope.Split("profile search profile account:42")
	fmt.Println(toks, err)
	id, ok := scope.AccountID(toks[2])
	fmt.Println(id, ok)
	_, err = scope.Split("profile  search")
	fmt.Println(err)
	// Output:
	// [profile search account:42] <nil>
	// 42 true
	// invalid scope "profile  search": empty scope token; separate scopes with exactly one space
}

func ExampleSplitPath() {
	for _, p := range []string{
		"/records/7/search/",
		"/workers/me/../../admin",
		"/caf%C3%A9/100%25",
		"/records%2F7%2Fsearch",
		"/a/%252F",
		"/../admin",
	} {
		segs, err := scope.SplitPath(p)
		fmt.Printf("%q %v\n", segs, err)
	}
	// Output:
	// ["records" "7" "search"] <nil>
	// ["admin"] <nil>
	// ["café" "100%"] <nil>
	// [] invalid path "/records%2F7%2Fsearch": encoded "/" ("%2F"): servers disagree on whether it separates segments
	// [] invalid path "/a/%252F": double encoding ("%252F"): a server that decodes twice would see "/"
	// [] invalid path "/../admin": ".." goes above the root
}

func ExamplePathRules_Split() {
	rules := scope.PathRules{AllowEncodedSlash: true}
	for _, p := range []string{
		"/records/x%2Fadmin/search",
		"/records/x%2F..%2Fadmin",
	} {
		segs, err := rules.Split(p)
		fmt.Printf("%q %v\n", segs, err)
	}
	// Output:
	// ["records" "x/admin" "search"] <nil>
	// [] invalid path "/records/x%2F..%2Fadmin": segment "x/../admin" has an encoded "/" next to a "." or ".." part
}

func ExampleCatalog_Allows() {
	c := scope.Default()
	// The scopes of a token; account:42 restricts, but is not in the catalog.
	granted := c.SetOf([]string{"search", "account:42"})

	for _, call := range []struct{ method, path string }{
		{"GET", "/records/7/search"},
		{"HEAD", "/records/7/search"},
		{"POST", "/records/7/search"},
		{"GET", "/records/7"},
	} {
		segs, err := scope.SplitPath(call.path)
		if err != nil {
			fmt.Println(err)
			continue
		}
		if c.Allows(granted, call.method, segs) {
			fmt.Println(call.method, call.path, "allowed")
		} else {
			// What to put in an insufficient_scope error (RFC 6750 §3.1).
			fmt.Println(call.method, call.path, "needs one of", c.Allowing(call.method, segs))
		}
	}
	// Output:
	// GET /records/7/search allowed
	// HEAD /records/7/search allowed
	// POST /records/7/search needs one of [api]
	// GET /records/7 needs one of [api:read-only api]
}

func ExampleCatalog_Explain() {
	c := scope.Default()
	segs, _ := scope.SplitPath("/records/7/search")
	for _, e := range c.Explain("POST", segs) {
		switch {
		case e.Allowed:
			fmt.Printf("%s: allowed by %s %v\n", e.Scope, e.Pattern, e.Methods)
		case e.Pattern != "":
			fmt.Printf("%s: %s matches, but allows only %v\n", e.Scope, e.Pattern, e.Methods)
		default:
			fmt.Printf("%s: no endpoint matches\n", e.Scope)
		}
	}
	// Output:
	// profile: no endpoint matches
	// search: records/*/search matches, but allows only [GET]
	// api:read-only: * matches, but allows only [GET]
	// api: allowed by * []
}

// A catalog as platforms print it, without the "scopes:" wrapper, with a
// default scope.
func ExampleCatalog_Defaults() {
	c, err := scope.Parse([]byte(`
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
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("scopes:", c.Names())
	fmt.Println("default:", c.Defaults())
	fmt.Println("self-service:", c.SelfService())
	// Output:
	// scopes: [profile api]
	// default: [api]
	// self-service: [profile]
}

// A catalog from rules, as an OpenAPI document gives them: deleting an
// order needs orders:write and admin together (AND); changing one needs
// either (OR); /orders/mine takes its call before /orders/{id}.
func ExampleNew() {
	c, err := scope.New(scope.Definition{
		Scopes: []scope.Scope{
			{Name: "orders:read", Label: "Read your orders"},
			{Name: "orders:write", Label: "Change your orders"},
			{Name: "admin", Label: "Administer the shop"},
		},
		Rules: []scope.Rule{
			{Pattern: "orders/{id}", Methods: []string{"GET"}, Scopes: []string{"orders:read"}},
			{Pattern: "orders/{id}", Methods: []string{"DELETE"}, Scopes: []string{"orders:write", "admin"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"orders:write"}},
			{Pattern: "orders/{id}", Methods: []string{"PATCH"}, Scopes: []string{"admin"}},
			{Pattern: "orders/mine", Methods: []string{"GET"}, Scopes: []string{"admin"}},
		},
		MostSpecific: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, call := range []struct{ token, method, path string }{
		{"orders:write", "DELETE", "/orders/7"},
		{"orders:write admin", "DELETE", "/orders/7"},
		{"admin", "PATCH", "/orders/7"},
		{"orders:read", "GET", "/orders/7"},
		{"orders:read", "GET", "/orders/mine"},
	} {
		segs, _ := scope.SplitPath(call.path)
		token := c.SetOf(strings.Fields(call.token))
		if c.Allows(token, call.method, segs) {
			fmt.Printf("%s %s with %q: allowed\n", call.method, call.path, call.token)
		} else {
			fmt.Printf("%s %s with %q: needs %q\n", call.method, call.path, call.token, c.Required(token, call.method, segs))
		}
	}
	// Output:
	// DELETE /orders/7 with "orders:write": needs ["orders:write" "admin"]
	// DELETE /orders/7 with "orders:write admin": allowed
	// PATCH /orders/7 with "admin": allowed
	// GET /orders/7 with "orders:read": allowed
	// GET /orders/mine with "orders:read": needs ["admin"]
}
