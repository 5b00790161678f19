package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Limits of a usage report (POST /admin/v1/usage).
const (
	MaxReportCalls = 50000 // pairs per report
	maxIDLen       = 256
	maxPatternLen  = 512
)

// DefaultDays is the period a client's usage covers unless asked
// otherwise; MaxDays the longest, and how long daily usage is kept.
const (
	DefaultDays = 30
	MaxDays     = 90
)

// ActionNewAddress is the audit action of a client's first token request
// from a source address.
const ActionNewAddress = "client.new_address"

// ErrInvalidReport wraps what is wrong with a usage report.
var ErrInvalidReport = errors.New("invalid usage report")

// Store is what the Service needs of the store.
type Store interface {
	store.UsageStore
	GetClient(ctx context.Context, id string) (store.Client, error)
}

// Options configure a Service.
type Options struct {
	Store Store
	// Interval is how often the Tally is written; 0: DefaultInterval.
	Interval time.Duration
	// MaxClients and MaxAddresses bound the Tally (0: the defaults);
	// MaxAddresses also bounds the addresses kept per client in the store.
	MaxClients, MaxAddresses int
	Logger                   *slog.Logger
	Now                      func() time.Time
}

// Service keeps usage per credential: it writes the token endpoint's
// Tally and the gateways' reports to the store, audits a client's new
// source addresses (once each, at most MaxAddresses a client per write),
// and reads a client's usage back.
type Service struct {
	st           Store
	tally        *Tally
	dropped      int64 // the tally's Dropped at the last Flush
	interval     time.Duration
	maxAddresses int
	log          *slog.Logger
	now          func() time.Time
}

// New returns a Service.
func New(o Options) *Service {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = DefaultMaxAddresses
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{st: o.Store, tally: NewTally(o.MaxClients, o.MaxAddresses), interval: o.Interval,
		maxAddresses: o.MaxAddresses, log: o.Logger, now: o.Now}
}

// Tally is where the token endpoint counts tokens and addresses.
func (s *Service) Tally() *Tally { return s.tally }

// Collectors are the Service's metrics: what its Tally could not hold.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "gatehouse_usage_uncounted_total",
		Help: "Tokens and source addresses missing from the stored usage: the token endpoint's tally was full (its writes fell behind new clients, or failed) or a client used more than usage.max_addresses addresses in an interval.",
	}, func() float64 { return float64(s.tally.Dropped()) })}
}

// Run writes the Tally every interval and deletes daily usage older than
// MaxDays once a day, until ctx is done; then it writes the Tally once
// more.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var pruned string
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.Flush(fctx)
			cancel()
			return
		case <-s.tally.Full():
			s.Flush(ctx)
		case <-t.C:
			s.Flush(ctx)
			if today := Day(s.now()); today != pruned {
				if err := s.st.PruneUsage(ctx, Day(s.now().AddDate(0, 0, -MaxDays))); err != nil && ctx.Err() == nil {
					s.log.Warn("pruning old usage failed", "err", err)
				} else {
					pruned = today
				}
			}
		}
	}
}

// Flush writes what the Tally counted since the last Flush. It must not run
// concurrently with itself (Run calls it).
func (s *Service) Flush(ctx context.Context) {
	if d := s.tally.Dropped(); d > s.dropped {
		s.log.Warn("the usage tally was full: tokens or addresses went uncounted (the store's usage writes fell behind new clients or failed, or a client used more than usage.max_addresses addresses in an interval)",
			"uncounted", d-s.dropped)
		s.dropped = d
	}
	// A transaction for each flushChunk clients, so that the store's write
	// lock is never held for long (SQLite has one for the whole database).
	// After a failed write the Tally gets back what was not written, for
	// the next Flush.
	for r := range s.tally.take(flushChunk) {
		if err := s.record(ctx, r); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("recording token usage failed; the counts not written are kept for the next write", "err", err)
			}
			return
		}
	}
}

// flushChunk is how many clients' usage Flush writes in one transaction.
const flushChunk = 500

func (s *Service) record(ctx context.Context, r store.UsageReport) error {
	added, err := s.st.RecordUsage(ctx, r, s.maxAddresses, func(a store.UsageAddress) store.AuditEvent {
		return store.AuditEvent{Time: s.now(), Actor: "system", Action: ActionNewAddress, Target: a.ClientID,
			Detail: "first token request from " + a.Address}
	})
	for _, a := range added {
		s.log.Info("client used from a new address", "client_id", a.ClientID, "address", a.Address)
	}
	return err
}

// Report adds a gateway's report to the stored usage: each pair's counts
// go to the day of its last-seen time (UTC; a time in the future counts
// as now). Pairs of no client (calls without a verified token, and Other)
// and of unknown clients are not kept. A report that breaks the limits is
// refused whole (ErrInvalidReport).
func (s *Service) Report(ctx context.Context, r admin.UsageReport) error {
	if len(r.Calls) > MaxReportCalls {
		return fmt.Errorf("%w: %d pairs, more than %d", ErrInvalidReport, len(r.Calls), MaxReportCalls)
	}
	now := s.now()
	var rows []store.UsageCalls
	for i, c := range r.Calls {
		if err := checkCalls(c); err != nil {
			return fmt.Errorf("%w: calls[%d]: %v", ErrInvalidReport, i, err)
		}
		if c.ClientID == "" {
			continue
		}
		at := c.LastSeen
		if at.IsZero() || at.After(now) {
			at = now
		}
		day := Day(at)
		if c.Allowed > 0 {
			rows = append(rows, store.UsageCalls{ClientID: c.ClientID, Day: day, Pattern: c.Pattern, Outcome: store.UsageAllowed, Count: c.Allowed, LastSeen: at})
		}
		for reason, n := range c.Denied {
			if n == 0 {
				continue
			}
			if !KnownReason(reason) {
				reason = OtherReason
			}
			rows = append(rows, store.UsageCalls{ClientID: c.ClientID, Day: day, Pattern: c.Pattern, Outcome: reason, Count: n, LastSeen: at})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return s.record(ctx, store.UsageReport{Calls: rows})
}

func checkCalls(c admin.UsageCalls) error {
	switch {
	case len(c.ClientID) > maxIDLen || !printable(c.ClientID):
		return errors.New("client_id is longer than 256 bytes or not printable UTF-8")
	case c.Pattern == "" || len(c.Pattern) > maxPatternLen || !printable(c.Pattern):
		return errors.New("pattern is empty, longer than 512 bytes or not printable UTF-8")
	case c.Allowed < 0:
		return errors.New("allowed is negative")
	case len(c.Denied) > len(reasons)+8:
		return errors.New("too many denial reasons")
	}
	for r, n := range c.Denied {
		if n < 0 || len(r) > 64 || !printable(r) {
			return errors.New("a denial count is negative or its reason not a short printable string")
		}
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// ClientUsage returns the client's usage over the last days days (today
// included; 0: DefaultDays; at most MaxDays). store.ErrNotFound if there
// is no such client.
func (s *Service) ClientUsage(ctx context.Context, id string, days int) (admin.ClientUsage, error) {
	if days <= 0 {
		days = DefaultDays
	}
	days = min(days, MaxDays)
	since := Day(s.now().AddDate(0, 0, 1-days))
	c, err := s.st.GetClient(ctx, id)
	if err != nil {
		return admin.ClientUsage{}, err
	}
	u, err := s.st.ClientUsage(ctx, id, since, s.maxAddresses)
	if err != nil {
		return admin.ClientUsage{}, err
	}
	out := admin.ClientUsage{ClientID: id, Since: since, Tokens: []admin.UsageDay{}, Calls: []admin.PatternUsage{},
		Denials: map[string]int64{}, Secrets: []admin.SecretUse{}, Addresses: []admin.AddressUse{}}
	for _, t := range u.Tokens {
		out.Tokens = append(out.Tokens, admin.UsageDay{Day: t.Day, Count: t.Count})
	}
	byPattern := make(map[string]int)
	for _, c := range u.Calls {
		i, ok := byPattern[c.Pattern]
		if !ok {
			i = len(out.Calls)
			byPattern[c.Pattern] = i
			out.Calls = append(out.Calls, admin.PatternUsage{Pattern: c.Pattern})
		}
		p := &out.Calls[i]
		if c.Outcome == store.UsageAllowed {
			p.Allowed += c.Count
		} else {
			if p.Denied == nil {
				p.Denied = make(map[string]int64)
			}
			p.Denied[c.Outcome] += c.Count
			out.Denials[c.Outcome] += c.Count
		}
		if c.LastSeen.After(p.LastSeen) {
			p.LastSeen = c.LastSeen
		}
	}
	slices.SortStableFunc(out.Calls, func(a, b admin.PatternUsage) int {
		return cmp.Or(cmp.Compare(total(b), total(a)), cmp.Compare(a.Pattern, b.Pattern))
	})
	for _, sec := range c.Secrets {
		su := admin.SecretUse{ID: sec.ID, Hint: sec.Hint}
		if !sec.LastUsedAt.IsZero() {
			t := sec.LastUsedAt
			su.LastUsedAt = &t
		}
		out.Secrets = append(out.Secrets, su)
	}
	for _, a := range u.Addresses {
		out.Addresses = append(out.Addresses, admin.AddressUse{Address: a.Address, Count: a.Count, FirstSeen: a.FirstSeen, LastSeen: a.LastSeen})
	}
	return out, nil
}

func total(p admin.PatternUsage) int64 {
	n := p.Allowed
	for _, d := range p.Denied {
		n += d
	}
	return n
}
