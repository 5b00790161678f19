package usage

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Recorder as Prometheus metrics with bounded label
// sets: calls by endpoint pattern (the catalog's, plus Unmatched and
// Other) and outcome; by client only with Recorder.LabelClients, for at
// most that many clients; the (client, pattern) pairs of the current
// window; the calls that overflowed the bound. It reads the
// Recorder when scraped, so recording costs nothing more.
type Collector struct {
	r        *Recorder
	calls    *prometheus.Desc
	keys     *prometheus.Desc
	overflow *prometheus.Desc
	clients  *prometheus.Desc
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
		clients: prometheus.NewDesc(prefix+"_client_calls_total",
			"Calls decided with a verified token, by client (the first usage.metrics_clients clients; the others as \"other\") and outcome; only with usage.metrics_clients.",
			[]string{"client_id", "outcome"}, nil),
		overflow: prometheus.NewDesc(prefix+"_usage_overflow_total",
			"Calls counted under the pattern \"other\" because usage.max_keys (client, pattern) pairs were already recorded in the window.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.calls
	ch <- c.keys
	ch <- c.overflow
	ch <- c.clients
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	byPattern, byClient := c.r.snapshot()
	for k, n := range byPattern {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n), k.pattern, outcomeName(k.outcome))
	}
	for k, n := range byClient {
		ch <- prometheus.MustNewConstMetric(c.clients, prometheus.CounterValue, float64(n), k.pattern, outcomeName(k.outcome))
	}
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(c.r.Keys()))
	ch <- prometheus.MustNewConstMetric(c.overflow, prometheus.CounterValue, float64(c.r.Overflow()))
}

func outcomeName(o string) string {
	if o == "" {
		return "allowed"
	}
	return o
}

// snapshot returns the totals of every call recorded, taken or not, per
// pattern and outcome ("" for allowed), and with LabelClients per client
// label and outcome.
func (r *Recorder) snapshot() (byPattern, byClient map[outcomeKey]int64) {
	r.mu.Lock() // no Take meanwhile: counts are either in totals or in a shard
	defer r.mu.Unlock()
	out := make(map[outcomeKey]int64, len(r.totals))
	for k, n := range r.totals {
		out[k] = n
	}
	var cl map[outcomeKey]int64
	if r.maxClients > 0 {
		cl = make(map[outcomeKey]int64, len(r.clientTotals))
		for k, n := range r.clientTotals {
			cl[k] = n
		}
	}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for k, c := range sh.m {
			label := ""
			if cl != nil {
				label = r.clientLabel(k.client)
			}
			if n := c.allowed.Load(); n > 0 {
				out[outcomeKey{k.pattern, ""}] += n
				if label != "" {
					cl[outcomeKey{label, ""}] += n
				}
			}
			for j := range c.denied {
				if n := c.denied[j].Load(); n > 0 {
					out[outcomeKey{k.pattern, reasons[j]}] += n
					if label != "" {
						cl[outcomeKey{label, reasons[j]}] += n
					}
				}
			}
		}
		sh.mu.RUnlock()
	}
	return out, cl
}
