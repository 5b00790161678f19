package usage

import (
	"context"
	"errors"
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
		var pe *PartialError
		if errors.As(err, &pe) {
			rep = pe.Unsent
		}
		s.log.Warn("reporting usage failed; keeping it for the next report", "err", err, "pairs", len(rep.Calls))
		s.pending = rep
		return
	}
	s.reports.WithLabelValues("ok").Inc()
}

// ReportChunk is how many pairs a report sent over HTTP holds at most, so
// that its body stays well under the admin API's 64 KiB limit.
const ReportChunk = 200

// Chunked returns a sink that hands r to sink n pairs at a time. A failure
// stops it; the error is a *PartialError holding the pairs not sent, which
// the Sender keeps for the next report (so none counts twice).
func Chunked(sink Sink, n int) Sink {
	return func(ctx context.Context, r admin.UsageReport) error {
		for len(r.Calls) > 0 {
			k := min(n, len(r.Calls))
			if err := sink(ctx, admin.UsageReport{Calls: r.Calls[:k]}); err != nil {
				return &PartialError{Err: err, Unsent: admin.UsageReport{Calls: r.Calls}}
			}
			r.Calls = r.Calls[k:]
		}
		return nil
	}
}

// PartialError is a sink's failure after part of a report was sent.
type PartialError struct {
	Err    error
	Unsent admin.UsageReport
}

func (e *PartialError) Error() string { return e.Err.Error() }
func (e *PartialError) Unwrap() error { return e.Err }
