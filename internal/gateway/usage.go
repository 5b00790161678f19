package gateway

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/resource"
)

// Usage per credential: with Config.Usage, every decision of the guard is
// counted in the Recorder per client and endpoint pattern
// (resource.Config.ObserveCall), which its owner reports to the
// authorization server (usage.Sender), and exported as metrics by pattern
// and outcome, never by client. A call of a pair already seen in the window
// costs two hashes, a read lock and an atomic add; nothing allocates.

// observeUsage makes rc report every decision to rec, then to the
// ObserveCall rc already had, if any.
func observeUsage(rc *resource.Config, rec *usage.Recorder) {
	if rec == nil {
		return
	}
	next := rc.ObserveCall
	if next == nil {
		rc.ObserveCall = rec.ObserveCall
		return
	}
	rc.ObserveCall = func(r *http.Request, c resource.Call) {
		rec.ObserveCall(r, c)
		next(r, c)
	}
}

// registerUsage adds rec's metrics (gatehouse_gateway_calls_total, ...) to
// reg.
func registerUsage(reg prometheus.Registerer, rec *usage.Recorder) error {
	if rec == nil {
		return nil
	}
	if err := reg.Register(usage.NewCollector(rec, "gatehouse_gateway")); err != nil {
		return fmt.Errorf("gateway: register usage metrics: %w", err)
	}
	return nil
}
