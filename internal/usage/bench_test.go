package usage_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/resource"
)

// BenchmarkGuardUsage is the resource guard's decision (warm token cache,
// no network) with usage per credential off and on, in one run: the cost
// of the usage hook per request, without the proxy's round trip around it
// (BenchmarkProxyUsage in internal/gateway has that).
func BenchmarkGuardUsage(b *testing.B) {
	s := testutil.NewSigner(b, "k")
	iss := testutil.NewIssuer(b, s)
	now := time.Now()
	tok := s.Sign(b, map[string]any{"iss": iss.URL, "aud": iss.URL, "sub": "app", "client_id": "app",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": rand.Text(), "scope": "search"})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			cfg := resource.Config{Issuer: iss.URL, Audience: iss.URL, RevocationPoll: -1}
			if mode == "on" {
				cfg.ObserveCall = usage.NewRecorder(0).ObserveCall
			}
			g, err := resource.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(g.Close)
			h := g.Handler(ok)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/records/1/search", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				for pb.Next() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("got %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkRecord is the recorder alone, for a pair already seen.
func BenchmarkRecord(b *testing.B) {
	r := usage.NewRecorder(0)
	at := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record("app", "records/*/search", true, "", at)
		}
	})
}

// BenchmarkTallyIssued is the token endpoint's count of a token, for a
// client and address already counted (the common case) and for a client
// with several addresses.
func BenchmarkTallyIssued(b *testing.B) {
	at := time.Now()
	b.Run("known", func(b *testing.B) {
		tl := usage.NewTally(0, 0)
		b.ReportAllocs()
		for b.Loop() {
			tl.Issued("app", "192.0.2.1", at)
		}
	})
	b.Run("addresses", func(b *testing.B) {
		tl := usage.NewTally(0, 0)
		addrs := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tl.Issued("app", addrs[i%len(addrs)], at)
			i++
		}
	})
}
