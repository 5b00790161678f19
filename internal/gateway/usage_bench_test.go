package gateway_test

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/usage"
)

// BenchmarkProxyUsage is BenchmarkProxy with usage per credential off and
// on, in one run, so the two can be compared as a ratio (docs/BENCHMARKS.md).
func BenchmarkProxyUsage(b *testing.B) {
	as := newAuthServer(b)
	auth := "Bearer " + as.token(b, "app", "api")
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			var rec *usage.Recorder
			if mode == "on" {
				rec = usage.NewRecorder(0)
			}
			h := newUsageGateway(b, as, rec, prometheus.NewRegistry())
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/records/1", nil)
					req.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("got %d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}
