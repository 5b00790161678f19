package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are registered on a registry of the server's (Options.Registry),
// never the global one. They are served by whoever owns the registry (the
// CLI's metrics listener), not by the server's handler.
type metrics struct {
	tokens       *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	requests     *prometheus.CounterVec
	reg          *prometheus.Registry
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Access tokens issued, by grant type.",
		}, []string{"grant_type"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_client_auth_failures_total",
			Help: "Failed client authentications, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "HTTP request latency, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests, by route and status code.",
		}, []string{"route", "code"}),
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range []prometheus.Collector{m.tokens, m.authFailures, m.duration, m.requests} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	m.reg = reg
	return m, nil
}

// cacheFeed registers gauges of how current the client cache is: staleness
// reports how long ago, and confirmedAt when, it was last confirmed against
// the store's change feed.
func (m *metrics) cacheFeed(staleness func() time.Duration, confirmedAt func() time.Time) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_cache_staleness_seconds",
			Help: "Seconds since the client cache was last confirmed against the store's change feed.",
		}, func() float64 { return staleness().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_change_feed_last_read_timestamp_seconds",
			Help: "Unix time at which the last successful read of the store's change feed started.",
		}, func() float64 { return float64(confirmedAt().UnixNano()) / 1e9 }),
	} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return nil
}

// clientCache registers the client cache's counters and size, read from
// stats when scraped (the cache counts in its shards, so a hit does not
// write to a shared counter).
func (m *metrics) clientCache(stats func() cacheStats) error {
	counter := func(name, help string, v func(cacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	for _, c := range []prometheus.Collector{
		counter("gatehouse_client_cache_hits_total", "Client lookups answered from the client cache (known clients and cached unknown IDs).",
			func(s cacheStats) uint64 { return s.hits }),
		counter("gatehouse_client_cache_misses_total", "Client lookups not answered from the client cache: the client was loaded from the store.",
			func(s cacheStats) uint64 { return s.misses }),
		counter("gatehouse_client_cache_evictions_total", "Clients dropped from the client cache to keep it within cache.max_clients.",
			func(s cacheStats) uint64 { return s.evictions }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_client_cache_entries",
			Help: "Clients (and unknown client IDs) in the client cache.",
		}, func() float64 { return float64(stats().entries) }),
	} {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return nil
}

// routeMetrics holds the pre-resolved series of one route so that recording
// a request does no label hashing for the common status codes.
type routeMetrics struct {
	m        *metrics
	route    string
	duration prometheus.Observer
	codes    map[int]prometheus.Counter // read-only after construction
}

var commonCodes = []int{200, 400, 401, 404, 405, 429, 500, 503}

func (m *metrics) route(route string) *routeMetrics {
	rm := &routeMetrics{m: m, route: route, duration: m.duration.WithLabelValues(route), codes: map[int]prometheus.Counter{}}
	for _, c := range commonCodes {
		rm.codes[c] = m.requests.WithLabelValues(route, strconv.Itoa(c))
	}
	return rm
}

func (rm *routeMetrics) observe(code int, start time.Time) {
	rm.duration.Observe(time.Since(start).Seconds())
	if c, ok := rm.codes[code]; ok {
		c.Inc()
		return
	}
	rm.m.requests.WithLabelValues(rm.route, strconv.Itoa(code)).Inc()
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
