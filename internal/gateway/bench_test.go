package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/resource"
)

// benchUpstream starts the loopback upstream of the proxy benchmarks.
func benchUpstream(b *testing.B) *url.URL {
	body := []byte(`{"id":"rec_1","status":"active"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	return u
}

// benchProxy sends GET /records/1 through h in parallel, the inbound side
// on a recorder; the upstream is in the same process, so its allocations
// count too.
func benchProxy(b *testing.B, h http.Handler, auth string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/records/1", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("got %d %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkProxy measures the gateway's own work for an allowed request:
// guard (warm token cache), rewrite, round trip to a loopback upstream and
// copying the response, with the inbound side on a recorder.
// BenchmarkPlainProxy is the same without the gateway: the difference is
// the gateway's.
func BenchmarkProxy(b *testing.B) {
	as := newAuthServer(b)
	u := benchUpstream(b)
	gw, err := gateway.New(gateway.Config{Upstream: u, Resource: resource.Config{
		Issuer: as.srv.URL, Audience: as.srv.URL, RevocationPoll: -1,
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(gw.Close)
	benchProxy(b, gw.Handler(), "Bearer "+as.token(b, "app", "api"))
}

// BenchmarkPlainProxy is BenchmarkProxy's baseline: a bare
// httputil.ReverseProxy as in bench/plainproxy (pooled buffer, the
// gateway's transport settings, no auth), with the default flush interval
// and with the gateway's.
func BenchmarkPlainProxy(b *testing.B) {
	for _, flush := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run("flush="+flush.String(), func(b *testing.B) {
			u := benchUpstream(b)
			tr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512}
			b.Cleanup(tr.CloseIdleConnections)
			pool := sync.Pool{New: func() any { return new([32 << 10]byte) }}
			rp := &httputil.ReverseProxy{
				Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(u)
					pr.SetXForwarded()
				},
				Transport:     tr,
				FlushInterval: flush,
				BufferPool:    arrayPool{&pool},
			}
			benchProxy(b, rp, "Bearer not-checked")
		})
	}
}

type arrayPool struct{ p *sync.Pool }

func (a arrayPool) Get() []byte  { return a.p.Get().(*[32 << 10]byte)[:] }
func (a arrayPool) Put(b []byte) { a.p.Put((*[32 << 10]byte)(b[:32<<10])) }
