package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/resource"
)

// BenchmarkProxy measures the gateway's own work for an allowed request:
// guard (warm token cache), rewrite, round trip to a loopback upstream and
// copying the response, with the inbound side on a recorder.
func BenchmarkProxy(b *testing.B) {
	as := newAuthServer(b)
	body := []byte(`{"id":"rec_1","status":"active"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	gw, err := gateway.New(gateway.Config{Upstream: u, Resource: resource.Config{
		Issuer: as.srv.URL, Audience: as.srv.URL, RevocationPoll: -1,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(gw.Close)
	h := gw.Handler()
	auth := "Bearer " + as.token(b, "app", "api")
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
}
