package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/resource"
)

// denialReasons are the reasons resource.Config.Observe gives for a
// refusal, resolved up front; another reason still counts, just slower.
var denialReasons = []string{
	resource.ReasonMissingToken, resource.ReasonInvalidToken, resource.ReasonExpired,
	resource.ReasonRevoked, resource.ReasonInsufficientScope, resource.ReasonAccountMismatch,
	resource.ReasonOutsideBasePath, resource.ReasonInvalidRequest, resource.ReasonUnavailable,
	resource.ReasonInvalidDPoPProof, resource.ReasonDPoPBound,
}

type metrics struct {
	requests         *prometheus.CounterVec
	upstreamDuration prometheus.Histogram
	upstreamErrors   *prometheus.CounterVec

	// Series resolved up front, so counting a request hashes no labels.
	allowed prometheus.Counter
	denied  map[string]prometheus.Counter // read-only after newMetrics
}

// newMetrics builds the gateway's metrics; register adds them to a registry.
func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_requests_total",
			Help: "Requests checked by the gateway, by decision (allowed, denied) and reason for a denial (\"\" when allowed).",
		}, []string{"decision", "reason"}),
		upstreamDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatehouse_gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to its response headers (or failure).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_upstream_errors_total",
			Help: "Requests the upstream did not answer, by kind (error: 502, timeout: 504, client_canceled).",
		}, []string{"kind"}),
	}
	m.allowed = m.requests.WithLabelValues("allowed", "")
	m.denied = make(map[string]prometheus.Counter, len(denialReasons))
	for _, r := range denialReasons {
		m.denied[r] = m.requests.WithLabelValues("denied", r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.upstreamDuration, m.upstreamErrors} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return nil
}

// decision counts one request the guard decided on.
func (m *metrics) decision(allowed bool, reason string) {
	switch {
	case allowed:
		m.allowed.Inc()
	case m.denied[reason] != nil:
		m.denied[reason].Inc()
	default:
		m.requests.WithLabelValues("denied", reason).Inc()
	}
}
