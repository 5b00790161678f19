package server

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// BenchmarkTokenHandler measures the whole client-credentials request in
// process: form parsing, Basic decoding, cached client lookup, secret
// verification, scope checks, ES256 signing and the JSON response.
func BenchmarkTokenHandler(b *testing.B) {
	for _, tc := range []struct{ name, body string }{
		{"all-scopes", "grant_type=client_credentials"},
		{"scope+account", "grant_type=client_credentials&scope=search+account%3Aacme"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b)
			id, secret := h.client(clients.Spec{Scopes: []string{"search", "api:read-only"}, Accounts: []string{"acme"}})
			handler := h.srv.Handler()
			auth := basic(id, secret)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", PathToken, strings.NewReader(tc.body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					handler.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("got %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

// BenchmarkSecretVerify measures verifying a presented secret against a
// client holding two secrets (as during a rotation grace period).
func BenchmarkSecretVerify(b *testing.B) {
	now := time.Now()
	sec := "ghs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	cc := newCachedClient(store.Client{ID: "x", Secrets: []store.Secret{
		{ID: "old", Digest: make([]byte, 32), ExpiresAt: now.Add(time.Hour)},
		{ID: "new", Digest: digestOf(sec)},
	}}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if cc.verify(sec, "", now) == nil {
			b.Fatal("no match")
		}
	}
}
