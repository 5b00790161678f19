// Command plainproxy is the baseline of the gateway load run
// (bench/gateway.sh): a bare httputil.ReverseProxy in front of the same
// upstream, with what a tuned Go proxy has (the gateway's own pooled copy buffers and
// transport, which keeps enough idle connections; the server settings the
// gateway's listener has) and none of the gateway's work (no token, no
// scope check, no header screening, no metrics). The run compares the
// CPU time and the allocations per request of the two.
//
//	go run ./bench/plainproxy -addr 127.0.0.1:9304 -upstream http://127.0.0.1:9302
package main

import (
	"expvar"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9304", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9302", "upstream URL")
	flush := flag.Duration("flush-interval", 0, "httputil.ReverseProxy.FlushInterval (the gateway uses 10ms)")
	debug := flag.String("debug-addr", "", "listen address of /debug/vars (expvar: memstats.Mallocs) and /debug/pprof/, apart from -addr")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		log.Fatalf("plainproxy: -upstream %q is not an absolute URL", *upstream)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport:     gateway.NewTransport(30 * time.Second), // the gateway's own, and its copy buffers
		FlushInterval: *flush,
		BufferPool:    gateway.NewBufferPool(),
	}
	if *debug != "" {
		mux := http.NewServeMux()
		mux.Handle("/debug/vars", expvar.Handler())
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go func() { log.Fatal(http.ListenAndServe(*debug, mux)) }()
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Fatal(srv.ListenAndServe())
}
