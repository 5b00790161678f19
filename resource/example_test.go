package resource_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// Protecting a net/http API: every request needs a bearer token from the
// issuer, for this API's audience, whose scopes allow the endpoint called
// (with the default catalog: profile, search, api:read-only, api).
func ExampleMiddleware() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/records/{id}", func(w http.ResponseWriter, r *http.Request) {
		claims, _ := resource.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "record %s for client %s\n", r.PathValue("id"), claims.ClientID)
	})
	protect := resource.Middleware(resource.Config{
		Issuer:   "https://auth.example.com", // discovery gives its keys and revocation feed
		Audience: "https://api.example.com",  // a token's aud must contain this
		BasePath: "/api",                     // catalog paths are relative to it
	})
	log.Fatal(http.ListenAndServe(":8080", protect(mux)))
}

// A Guard from New can be closed, which stops its revocation polling, and
// can report every decision, e.g. to metrics.
func ExampleNew() {
	guard, err := resource.New(resource.Config{
		Issuer:   "https://auth.example.com",
		Audience: "https://api.example.com",
		Observe: func(allowed bool, reason string) {
			// count requests by decision and reason
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close()
	api := http.NewServeMux()
	log.Fatal(http.ListenAndServe(":8080", guard.Handler(api)))
}

// A request without a token is refused before any key is fetched, with the
// RFC 6750 challenge and a JSON body.
func ExampleGuard_Handler() {
	guard, err := resource.New(resource.Config{
		Issuer:         "https://auth.example.com",
		Audience:       "https://api.example.com",
		RevocationPoll: -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close()
	h := guard.Handler(http.NotFoundHandler())

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/records/1", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	fmt.Print(w.Body)

	w = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/records/1", nil)
	r.Header.Set("Authorization", "Bearer not-a-jwt")
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// 401 Bearer realm="https://auth.example.com"
	// {"error":"unauthorized","error_description":"this API needs an OAuth 2.0 bearer access token in the Authorization header"}
	// 401 Bearer realm="https://auth.example.com", error="invalid_token", error_description="not a JWT"
}

// With a resource identifier, the guard publishes the API's Protected
// Resource Metadata (RFC 9728) at the well-known URL formed from it, and
// every challenge points there.
func ExampleGuard_MetadataHandler() {
	cat, err := scope.Parse([]byte("scopes:\n  reports:\n    label: Read reports\n    endpoints:\n      - reports/*: GET\n"))
	if err != nil {
		log.Fatal(err)
	}
	guard, err := resource.New(resource.Config{
		Issuer:         "https://auth.example.com",
		Audience:       "https://api.example.com",
		Resource:       "https://api.example.com/v1",
		BasePath:       "/v1",
		Catalog:        cat,
		RevocationPoll: -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close()
	h := guard.Handler(http.NotFoundHandler())

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/reports/q1", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/v1", nil))
	fmt.Println(w.Code, w.Header().Get("Cache-Control"))
	fmt.Print(w.Body)

	// The same document, mounted elsewhere by the API itself:
	mux := http.NewServeMux()
	mux.Handle("GET /meta/records-api", guard.MetadataHandler())
	// Output:
	// 401 Bearer realm="https://auth.example.com", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1", scope="reports"
	// 200 public, max-age=300
	// {"resource":"https://api.example.com/v1","authorization_servers":["https://auth.example.com"],"scopes_supported":["reports"],"bearer_methods_supported":["header"]}
}

// With DPoP on, a request without a token is offered both schemes (RFC
// 9449 §7.1), each challenge in a header field of its own; a DPoP proof
// must name ExternalURL followed by the request's path.
func ExampleDPoP() {
	guard, err := resource.New(resource.Config{
		Issuer:         "https://auth.example.com",
		Audience:       "https://api.example.com",
		ExternalURL:    "https://api.example.com", // where clients call the API
		DPoP:           resource.DPoP{Enabled: true, Algorithms: []string{resource.ES256, resource.EdDSA}},
		RevocationPoll: -1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer guard.Close()
	w := httptest.NewRecorder()
	guard.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/records/1", nil))
	fmt.Println(w.Code)
	for _, c := range w.Header().Values("WWW-Authenticate") {
		fmt.Println(c)
	}
	// Output:
	// 401
	// Bearer realm="https://auth.example.com"
	// DPoP realm="https://auth.example.com", algs="ES256 EdDSA"
}
