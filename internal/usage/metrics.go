package usage

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Recorder as Prometheus metrics with bounded label
// sets: calls by endpoint pattern (the catalog's, plus Unmatched and
// Other) and outcome, never by client; the (client, pattern) pairs of the
// current window; the calls that overflowed the bound. It reads the
// Recorder when scraped, so recording costs nothing more.
type Collector struct {
	r        *Recorder
	calls    *prometheus.Desc
	keys     *prometheus.Desc
	overflow *prometheus.Desc
}

// NewCollector returns the Collector of r; prefix names the series, e.g.
// "gatehouse_gateway".
func NewCollector(r *Recorder, prefix string) *Collector {
	return &Collector{
		r: r,
		calls: prometheus.NewDesc(prefix+"_calls_total",
			"Calls decided, by the catalog pattern that allowed or matched them (unmatched: none; other: over usage.max_keys) and outcome (allowed, or the reason of a denial).",
			[]string{"pattern", "outcome"}, nil),
		keys: prometheus.NewDesc(prefix+"_usage_keys",
			"Distinct (client, pattern) pairs recorded since the last usage report.", nil, nil),
		overflow: prometheus.NewDesc(prefix+"_usage_overflow_total",
			"Calls counted under the pattern \"other\" because usage.max_keys (client, pattern) pairs were already recorded in the window.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.calls
	ch <- c.keys
	ch <- c.overflow
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.r.snapshot() {
		outcome := k.outcome
		if outcome == "" {
			outcome = "allowed"
		}
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n), k.pattern, outcome)
	}
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(c.r.Keys()))
	ch <- prometheus.MustNewConstMetric(c.overflow, prometheus.CounterValue, float64(c.r.Overflow()))
}

// snapshot returns the totals of every call recorded, taken or not, per
// pattern and outcome ("" for allowed).
func (r *Recorder) snapshot() map[outcomeKey]int64 {
	r.mu.Lock() // no Take meanwhile: counts are either in totals or in a shard
	defer r.mu.Unlock()
	out := make(map[outcomeKey]int64, len(r.totals))
	for k, n := range r.totals {
		out[k] = n
	}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for k, c := range sh.m {
			if n := c.allowed.Load(); n > 0 {
				out[outcomeKey{k.pattern, ""}] += n
			}
			for j := range c.denied {
				if n := c.denied[j].Load(); n > 0 {
					out[outcomeKey{k.pattern, reasons[j]}] += n
				}
			}
		}
		sh.mu.RUnlock()
	}
	return out
}
