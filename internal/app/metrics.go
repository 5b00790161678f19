package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves /metrics, and with pprof net/http/pprof under
// /debug/pprof/, on a listener of its own (--metrics-addr), so that neither
// is reachable through the public listener. Its methods do nothing on a nil
// receiver (no --metrics-addr: nothing listens).
type metricsServer struct {
	hs  *http.Server
	ln  net.Listener
	log *slog.Logger
}

// newRegistry returns the metrics registry of a process: the server's and
// the gateway's metrics, and the Go and process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// startMetrics opens the metrics listener on addr, serving reg; nil if addr
// is "".
func startMetrics(addr string, reg *prometheus.Registry, withPprof bool, log *slog.Logger) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (choose another with --metrics-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &metricsServer{
		ln:  ln,
		log: log,
		hs: &http.Server{
			Handler: mux,
			// No write timeout: a CPU profile takes as long as it is asked to.
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// logAttrs are the attributes naming the listener in a "listening" log line.
func (m *metricsServer) logAttrs() []any {
	if m == nil {
		return nil
	}
	return []any{"metrics", "http://" + m.ln.Addr().String()}
}

// run serves in the background and returns a function that closes the
// listener and waits for it.
func (m *metricsServer) run() (stop func()) {
	if m == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.hs.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics listener failed", "err", err)
		}
	}()
	return func() {
		_ = m.hs.Close()
		<-done
	}
}
