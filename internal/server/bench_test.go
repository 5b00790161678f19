package server

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
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

// BenchmarkTokenIssuance compares, in one run, a client-credentials
// request authenticated by a client secret (client_secret_basic), by a
// private_key_jwt assertion (RFC 7523: ES256 signature check, and the jti
// recorded in the store, a write), and by a secret with a DPoP proof (RFC
// 9449: the proof's JWK parsed, its ES256 signature checked, its jti
// remembered in memory, the token bound). Assertions and proofs are signed
// before the timer starts, one per request, as a client would send them.
//
//	go test -run x -bench 'TokenIssuance|DPoPVerify' -benchmem ./internal/server/ ./resource/
func BenchmarkTokenIssuance(b *testing.B) {
	b.Run("client_secret", func(b *testing.B) {
		h := newHarness(b)
		id, secret := h.client(clients.Spec{Scopes: []string{"api"}})
		benchTokenRequests(b, h, func(int) (string, http.Header) {
			return "grant_type=client_credentials", http.Header{"Authorization": {basic(id, secret)}}
		})
	})
	b.Run("private_key_jwt", func(b *testing.B) {
		h := newHarness(b)
		k := newAssertionKey(b, "k1")
		id, _ := h.client(clients.Spec{Scopes: []string{"api"}, TokenEndpointAuthMethod: store.AuthMethodPrivateKeyJWT, JWKS: jwksDoc(b, k)})
		bodies := make([]string, b.N)
		for i := range bodies {
			bodies[i] = "grant_type=client_credentials&" + assertionBody(k.sign(b, assertionClaims(id, "http://issuer.test"+PathToken, h.clock.Now(), newJTI()), nil))
		}
		benchTokenRequests(b, h, func(i int) (string, http.Header) { return bodies[i], http.Header{} })
	})
	b.Run("dpop", func(b *testing.B) {
		h := newHarness(b)
		id, secret := h.client(clients.Spec{Scopes: []string{"api"}})
		k := testutil.NewDPoPKey(b)
		proofs := make([]string, b.N)
		for i := range proofs {
			proofs[i] = h.proof(k, PathToken)
		}
		benchTokenRequests(b, h, func(i int) (string, http.Header) {
			return "grant_type=client_credentials", http.Header{"Authorization": {basic(id, secret)}, "Dpop": {proofs[i]}}
		})
	})
}

// benchTokenRequests sends b.N token requests, the i-th made by req(i),
// one after another.
func benchTokenRequests(b *testing.B, h *harness, req func(i int) (string, http.Header)) {
	handler := h.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, hdr := req(i)
		r := httptest.NewRequest("POST", PathToken, strings.NewReader(body))
		r.Header = hdr
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("got %d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkTokenReuse: one client asking for tokens 64 requests at a time
// (b.SetParallelism), in one run: the reuse window off (every request
// signs: the yardstick), on (after the first, every request is answered
// with the token issued before, from memory),
// and a quota on but never reached (the cost of counting). Tokens per
// second are reported; the ratio is on/off.
//
//	go test -run x -bench TokenReuse -benchmem ./internal/server/
func BenchmarkTokenReuse(b *testing.B) {
	for _, tc := range []struct {
		name  string
		reuse ReuseOptions
		spec  clients.Spec
	}{
		{"off", ReuseOptions{}, clients.Spec{}},
		{"on", ReuseOptions{MinRemaining: 50, MaxEntries: 1000}, clients.Spec{}},
		{"quota", ReuseOptions{}, clients.Spec{QuotaPerMinute: 1 << 30, QuotaPerHour: 1 << 30}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, harnessOpts{func(o *Options) { o.Reuse = tc.reuse }})
			tc.spec.Scopes = []string{"api", "search"}
			id, secret := h.client(tc.spec)
			h.revocations()
			handler := h.srv.Handler()
			auth := basic(id, secret)
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials&scope=api"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					handler.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("got %d %s", w.Code, w.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
		})
	}
}
