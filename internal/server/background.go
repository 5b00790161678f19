package server

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Run does the server's background work until ctx is done: it follows the
// store's change feed and its revocations (so client and key changes and
// revocations made by any process are seen within about PollInterval, or at
// once if the store pushes notifications),
// records secret usage, maintains signing keys and prunes expired data. On
// return it flushes pending usage records.
func (s *Server) Run(ctx context.Context) {
	if w, ok := s.st.(changeWatcher); ok {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.watch(wctx, w) }()
		defer func() { cancel(); <-done }()
	}
	if o, ok := s.st.(revocationObserver); ok {
		defer o.ObserveRevocations(s.observeRevocation)()
	}
	// The rest runs apart from the feed follower, so that a write waiting
	// for the store's write lock (usage records of many clients, pruning a
	// large feed, the quota exchange) never holds up the reads that keep
	// the cache confirmed (cache.max_staleness).
	housekept := make(chan struct{})
	go func() { defer close(housekept); s.housekeep(ctx) }()
	defer func() { <-housekept }()
	quotasSynced := make(chan struct{})
	go func() { defer close(quotasSynced); s.exchangeQuotas(ctx) }()
	defer func() { <-quotasSynced }()

	poll := time.NewTicker(s.pollInterval)
	defer poll.Stop()
	f := feed{lastOK: s.now()}
	s.follow(ctx, &f) // with the revocations (revoked.go, reuse.go)
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			s.follow(ctx, &f)
		case <-s.wake:
			s.follow(ctx, &f)
		}
	}
}

// exchangeQuotas runs the issuance quotas' rounds (quota.go) until ctx is
// done.
func (s *Server) exchangeQuotas(ctx context.Context) {
	t := time.NewTicker(s.quota.interval)
	defer t.Stop()
	for {
		s.syncQuotas(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// housekeep records secret usage, maintains signing keys and prunes expired
// data until ctx is done, then flushes pending usage records.
func (s *Server) housekeep(ctx context.Context) {
	minute := time.NewTicker(time.Minute)
	prune := time.NewTicker(10 * time.Minute)
	defer minute.Stop()
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.flushUsage(fctx)
			cancel()
			return
		case <-s.usage.full:
			s.flushUsage(ctx)
		case <-minute.C:
			s.flushUsage(ctx)
			if err := s.keys.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("signing key maintenance failed", "err", err)
			}
			s.limiter.Prune(s.now())
			s.regLimiter.Prune(s.now())
		case <-prune.C:
			s.prune(ctx)
		}
	}
}

// changeWatcher is implemented by stores that push a signal when the change
// feed grows (PostgreSQL, with LISTEN/NOTIFY), so that a change made by any
// process reaches every server at once. Polling stays the fallback.
type changeWatcher interface {
	// WatchChanges calls notify soon after any process adds to the change
	// feed or records a revocation, until ctx is done (it then returns
	// nil) or the connection it listens on fails (it returns the error).
	// It also calls notify once it is listening, since changes made before
	// then were not signalled. notify must not block; bursts may be
	// signalled once.
	WatchChanges(ctx context.Context, notify func()) error
}

// watch runs w.WatchChanges until ctx is done, starting it again after a
// failure with a growing delay. Each notification wakes Run to read the feed;
// notifications that arrive while a read is pending are coalesced.
func (s *Server) watch(ctx context.Context, w changeWatcher) {
	notify := func() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	const minDelay, maxDelay = 100 * time.Millisecond, 30 * time.Second
	delay := minDelay
	for {
		began := time.Now()
		err := w.WatchChanges(ctx, notify)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > maxDelay {
			delay = minDelay // it ran for a while: a new failure
		}
		s.log.Warn("listening for change notifications failed; polling the change feed meanwhile", "err", err, "retry_in", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, maxDelay)
	}
}

// feed tracks the position in the store's change feed.
type feed struct {
	// started: the position has been found. The first read starts near
	// the feed's end (LastChange), not at its beginning: nothing cached can
	// depend on older entries, and the feed may hold an hour of a bulk
	// import (a million entries).
	started bool
	since   time.Time // poll entries at or after this store time
	lastOK  time.Time // local time of the last successful poll
	// refusing: the last poll failed and the cache is older than
	// maxStaleness, so client authentication is refused.
	refusing bool
	// Entries already applied that are still inside the overlap window, so
	// that re-reading them does not invalidate the cache again.
	seen map[store.Change]struct{}
	// pruneSeenAt: len(seen) at which entries that fell out of the overlap
	// window are dropped next (during a long read, so that seen holds one
	// window of entries, not all that were read).
	pruneSeenAt int
	// The newest entry time read, and the local time it was first read.
	latest, latestReadAt time.Time
}

// feedOverlap re-reads this much of the feed on every poll, so a change whose
// transaction committed after a later one had already been read is not missed.
const feedOverlap = 10 * time.Second

// feedGap: after this long without a successful poll, entries may have been
// pruned before we read them, so everything cached is dropped.
const feedGap = 30 * time.Minute

// feedReadTimeout bounds one read of the change feed, so that a read hanging
// on a lost connection does not hold up the background loop.
const feedReadTimeout = 5 * time.Second

// changePageSize is how many entries one read of the change feed returns at
// most; a poll reads pages until the end, so what it holds at once does not
// grow with the feed.
const changePageSize = 1000

func (s *Server) follow(ctx context.Context, f *feed) {
	s.followRevocations(ctx)
	start := s.now()
	if !f.started {
		rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
		last, err := s.st.LastChange(rctx)
		cancel()
		if err != nil {
			s.feedFailed(ctx, f, err)
			return
		}
		if !last.At.IsZero() {
			f.since = last.At.Add(-feedOverlap)
		}
		f.started = true
	}
	reloadKeys := false
	defer func() {
		if reloadKeys {
			if err := s.keys.Reload(ctx); err != nil {
				s.log.Error("reloading signing keys failed", "err", err)
			}
			s.verified.Clear() // verify again against the keys as they are now
		}
	}()
	pos := store.Change{At: f.since}
	for first := true; ; first = false {
		rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
		changes, err := s.st.ChangesAfter(rctx, pos, s.changePageSize)
		cancel()
		if err != nil {
			if !first {
				f.advance(s.now()) // keep what the pages read so far applied
			}
			s.feedFailed(ctx, f, err)
			return
		}
		if first {
			if now := s.now(); now.Sub(f.lastOK) > feedGap {
				s.clients.flush()
				reloadKeys = true
			}
			f.lastOK = s.now()
			if f.seen == nil {
				f.seen = make(map[store.Change]struct{})
			}
		}
		var ids []string
		for _, c := range changes {
			if c.At.After(f.latest) {
				f.latest, f.latestReadAt = c.At, s.now()
			}
			if _, ok := f.seen[c]; ok {
				continue
			}
			f.seen[c] = struct{}{}
			switch c.Kind {
			case store.ChangeClient:
				ids = append(ids, c.ID)
			case store.ChangeKey:
				reloadKeys = true
			}
		}
		if len(ids) > 0 {
			s.clients.invalidate(ids...)
		}
		if len(changes) < s.changePageSize {
			break
		}
		pos = changes[len(changes)-1]
		if len(f.seen) >= f.pruneSeenAt {
			f.pruneSeen(f.latest.Add(-feedOverlap))
		}
	}
	f.advance(s.now())
	s.confirmed.Store(&start)
	if f.refusing {
		f.refusing = false
		s.log.Info("change feed readable again; client authentication resumed")
	}
}

// feedFailed handles a failed read of the change feed: the cache is kept,
// but once it is older than maxStaleness client authentication is refused.
func (s *Server) feedFailed(ctx context.Context, f *feed, err error) {
	if ctx.Err() != nil {
		return
	}
	if stale := s.staleness(); s.maxStaleness > 0 && stale > s.maxStaleness {
		if !f.refusing {
			s.log.Error("change feed unreadable for longer than cache.max_staleness; refusing client authentication until it is readable again",
				"err", err, "max_staleness", s.maxStaleness.String())
		}
		f.refusing = true
	} else {
		s.log.Warn("reading change feed failed; serving cached clients and keys", "err", err)
	}
}

// advance moves the position past what has been read: it keeps re-reading
// the last overlap window until nothing new has appeared in it for that
// long, then moves past it.
func (f *feed) advance(now time.Time) {
	next := f.latest.Add(-feedOverlap)
	if !f.latest.IsZero() && now.Sub(f.latestReadAt) > feedOverlap {
		next = f.latest.Add(time.Microsecond)
	}
	if next.After(f.since) {
		f.since = next
		f.pruneSeen(f.since)
	}
}

// pruneSeen forgets the applied entries older than before: they are never
// read again.
func (f *feed) pruneSeen(before time.Time) {
	for c := range f.seen {
		if c.At.Before(before) {
			delete(f.seen, c)
		}
	}
	f.pruneSeenAt = max(2*len(f.seen), 4*changePageSize)
}

// prune deletes expired data, and the open registrations unused for
// registration.unused_ttl (with their audit events).
func (s *Server) prune(ctx context.Context) {
	if err := s.st.Prune(ctx, s.now()); err != nil && ctx.Err() == nil {
		s.log.Error("pruning expired data failed", "err", err)
	}
	if s.registration == nil {
		return
	}
	n, err := s.registration.PruneUnused(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("deleting unused open registrations failed", "err", err, "deleted", n)
	} else if n > 0 {
		s.log.Info("deleted unused open registrations", "deleted", n)
	}
}

func (s *Server) flushUsage(ctx context.Context) {
	used, clients, heldBack := s.usage.take()
	if heldBack > 0 {
		s.log.Warn("last-use times held back: the store's writes fell behind the secrets and clients in use; they are recorded at their next use",
			"uses", heldBack)
	}
	if len(used) > 0 {
		if err := s.st.TouchSecrets(ctx, used); err != nil {
			s.log.Warn("recording secret usage failed", "err", err, "secrets", len(used))
		}
	}
	if len(clients) > 0 {
		if err := s.st.TouchClients(ctx, clients); err != nil {
			s.log.Warn("recording client usage failed", "err", err, "clients", len(clients))
		}
	}
}
