package openapi_test

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

func ExampleParse() {
	api, err := openapi.Parse([]byte(`
openapi: 3.1.0
info: {title: Orders, version: "1"}
servers: [{url: "https://api.example.com/v1"}]
security: [{oauth: [orders:read]}]
paths:
  /orders/{id}:
    get: {responses: {"200": {description: ok}}}
    delete:
      security: [{oauth: [orders:write, admin]}]
      responses: {"204": {description: deleted}}
  /status:
    get: {security: [], responses: {"200": {description: up}}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://auth.example.com/oauth/token
          scopes:
            orders:read: Read your orders
            orders:write: Change your orders
            admin: Administer the shop
`), openapi.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("base path:", api.BasePath)
	fmt.Println("scopes:", api.Catalog.Names())
	for _, o := range api.Operations {
		fmt.Println(o.Method, o.Path, "→", o.Pattern, o.Requirements, "public:", o.Public)
	}

	// Protect a Go API with it: the guard enforces each operation's
	// requirements and takes paths from the document's base path.
	guard, err := resource.New(resource.Config{
		Issuer:         "https://auth.example.com",
		Audience:       "https://api.example.com",
		Catalog:        api.Catalog,
		BasePath:       api.BasePath,
		RevocationPoll: -1, // no feed in this example
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer guard.Close()
	_ = guard.Handler(http.NotFoundHandler())

	_, err = openapi.Parse([]byte(`
openapi: 3.0.3
info: {title: T, version: "1"}
paths:
  /a: {get: {security: [{oauth: [write]}], responses: {}}}
components: {securitySchemes: {oauth: {type: oauth2, flows: {implicit: {authorizationUrl: /authorize, scopes: {read: Read}}}}}}
`), openapi.Options{})
	fmt.Println(err)
	// Output:
	// base path: /v1
	// scopes: [orders:read orders:write admin]
	// GET /orders/{id} → orders/{id} [[orders:read]] public: false
	// DELETE /orders/{id} → orders/{id} [[orders:write admin]] public: false
	// GET /status → status [] public: true
	// line 5: GET /a: scope "write" of scheme "oauth" is not declared in that scheme's flows
}
