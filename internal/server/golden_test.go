package server

import (
	"flag"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/clients"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestGoldenResponses compares whole responses (status, protocol headers,
// body) with files in testdata/. Refresh with: go test ./internal/server -run Golden -update
func TestGoldenResponses(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{ID: "golden-app", Scopes: []string{"search"}})
	auth := map[string]string{"Authorization": basic(id, secret)}
	for _, tc := range []struct {
		name string
		do   func() response
	}{
		{"metadata", func() response {
			req, _ := http.NewRequest("GET", h.http.URL+PathMetadata, nil)
			return h.do(req)
		}},
		{"root-index", func() response {
			req, _ := http.NewRequest("GET", h.http.URL+"/", nil)
			return h.do(req)
		}},
		{"token-wrong-secret", func() response { return h.token(id, "wrong", "") }},
		{"token-repeated-param", func() response { return h.post(PathToken, "grant_type=client_credentials&grant_type=x", auth) }},
		{"token-invalid-scope", func() response { return h.token(id, secret, "scope=api") }},
		{"token-unsupported-grant", func() response { return h.post(PathToken, "grant_type=password", auth) }},
		{"token-wrong-method", func() response {
			req, _ := http.NewRequest("GET", h.http.URL+PathToken, nil)
			return h.do(req)
		}},
		{"introspect-inactive", func() response { return h.post(PathIntrospect, "token=abc", auth) }},
		{"revoke-unknown-token", func() response { return h.post(PathRevoke, "token=abc", auth) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name, render(tc.do()))
		})
	}
}

// render prints a response with the headers that are part of the protocol.
func render(r response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.status)
	var keys []string
	for k := range r.header {
		switch k {
		case "Date", "Content-Length", "Etag":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.header[k], ", "))
	}
	b.WriteString("\n" + r.body + "\n")
	return b.String()
}
