package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/usage"
)

// Usage per credential: serve's usage.Service (the token endpoint's tally,
// the gateways' reports, the admin API and console reads), and a gateway's
// Recorder with the Sender of its reports: in process to the Service for
// the embedded gateway, to POST /admin/v1/usage for `gatehouse gateway`.

// usageService returns serve's usage service; nil when usage is off.
func usageService(cfg config.Config, st store.Store, log *slog.Logger) *usage.Service {
	if !cfg.Usage.Enabled {
		return nil
	}
	return usage.New(usage.Options{Store: st, Interval: time.Duration(cfg.Usage.Interval),
		MaxAddresses: cfg.Usage.MaxAddresses, Logger: log.With("component", "usage"), Now: time.Now})
}

// gatewayUsage is a gateway's usage recorder and the sender of its
// reports to sink; both nil when usage is off. A nil sink drops the
// reports (the metrics still count every call).
func gatewayUsage(cfg config.Config, sink usage.Sink, reg *prometheus.Registry, log *slog.Logger) (*usage.Recorder, *usage.Sender, error) {
	if !cfg.Usage.Enabled {
		return nil, nil, nil
	}
	rec := usage.NewRecorder(cfg.Usage.MaxKeys)
	if cfg.Usage.MetricsClients > 0 {
		rec.LabelClients(cfg.Usage.MetricsClients)
	}
	if sink == nil {
		sink = func(context.Context, admin.UsageReport) error { return nil }
	}
	s := usage.NewSender(rec, sink, time.Duration(cfg.Usage.Interval), cfg.Usage.MaxKeys, log.With("component", "usage"))
	if reg != nil {
		for _, c := range s.Collectors() {
			if err := reg.Register(c); err != nil {
				return nil, nil, err
			}
		}
	}
	return rec, s, nil
}

// remoteUsageSink is the sink of `gatehouse gateway`: POST /admin/v1/usage
// at the issuer with a token of the gateway's client (gateway.client_id)
// for the gatehouse:usage scope; nil without a client.
func remoteUsageSink(ctx context.Context, cfg config.Config) usage.Sink {
	g := cfg.Gateway
	if g.ClientID == "" || g.ClientSecret == "" {
		return nil
	}
	api := admin.New(cfg.Issuer, admin.ClientCredentials(ctx, cfg.Issuer, g.ClientID, g.ClientSecret, admin.ScopeUsage))
	return usage.Chunked(api.ReportUsage, usage.ReportChunk)
}

// runUsage runs the service and the sender (either may be nil) until ctx
// is done; the returned function waits for their last writes.
func runUsage(ctx context.Context, svc *usage.Service, s *usage.Sender) (wait func()) {
	var wg sync.WaitGroup
	if s != nil {
		wg.Go(func() { s.Run(ctx) })
	}
	if svc != nil {
		wg.Go(func() { svc.Run(ctx) })
	}
	return wg.Wait
}
