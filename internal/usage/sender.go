package usage

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/admin"
)

// DefaultInterval is how often usage is reported and written.
const DefaultInterval = time.Minute

// A Sink receives a usage report: the server's Service.Report in process,
// or the admin API's POST /usage (admin.API.ReportUsage) for a gateway of
// its own.
type Sink func(ctx context.Context, r admin.UsageReport) error

// A Sender takes a Recorder's report every interval and hands it to a
// sink. A report the sink refuses is kept and sent with the next one, up to
// the Recorder's bound of pairs (merged, so memory stays bounded).
type Sender struct {
	rec      *Recorder
	sink     Sink
	interval time.Duration
	maxKeys  int
	log      *slog.Logger
	reports  *prometheus.CounterVec
	pending  admin.UsageReport
}

// NewSender returns a Sender of rec's reports to sink every interval (0:
// DefaultInterval); maxKeys bounds a report kept after a failure.
func NewSender(rec *Recorder, sink Sink, interval time.Duration, maxKeys int, log *slog.Logger) *Sender {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{rec: rec, sink: sink, interval: interval, maxKeys: maxKeys, log: log,
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_usage_reports_total",
			Help: "Usage reports handed to the authorization server, by result (ok, error).",
		}, []string{"result"})}
}

// Collectors are the Sender's metrics, for a registry.
func (s *Sender) Collectors() []prometheus.Collector { return []prometheus.Collector{s.reports} }

// Run reports every interval until ctx is done, then once more (within 5
// seconds), so a gateway that stops loses nothing it could send.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.Flush(fctx)
			cancel()
			return
		case <-t.C:
			s.Flush(ctx)
		}
	}
}

// Flush sends what was recorded since the last report (and what the sink
// refused last time), if anything.
func (s *Sender) Flush(ctx context.Context) {
	rep := Merge(s.pending, s.rec.Take(), s.maxKeys)
	s.pending = admin.UsageReport{}
	if len(rep.Calls) == 0 {
		return
	}
	if err := s.sink(ctx, rep); err != nil {
		s.reports.WithLabelValues("error").Inc()
		s.log.Warn("reporting usage failed; keeping it for the next report", "err", err, "pairs", len(rep.Calls))
		s.pending = rep
		return
	}
	s.reports.WithLabelValues("ok").Inc()
}
