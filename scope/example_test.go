package scope_test

import (
	"fmt"

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
