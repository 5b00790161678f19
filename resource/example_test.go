package resource_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse/gatehouse/resource"
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
