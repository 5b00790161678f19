package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Issuance quotas: at most N access tokens per client per
// minute and per hour, counted across every node that shares the store,
// without a database write per token.
//
// Each node counts the tokens it issues per client and fixed window (the
// minute and the hour, aligned to the Unix epoch) in memory, and may issue
// up to a reservation (its cap) without asking anyone. About once a second
// (QuotaOptions.SyncInterval) it renews its reservations in one store
// transaction (store.SyncQuotas): it reads the other nodes' reservations
// and counts and how many nodes are active, k, and reserves its count plus
// its share of what is left, ceil((quota − others' reservations − own
// count) / k), writing both back. A node therefore never issues more than
// it reserved, and what it reserved was left when it looked. Transactions
// of several nodes that run at the same moment each see the others'
// previous reservations, so each takes at most ceil(R/k) of the same
// remainder R: so far a window's total stays within quota + k tokens (the
// rounding of k shares). One node alone (SQLite) reserves the whole quota,
// exactly. With peers, a node's first tokens of a client in a window,
// before it holds a reservation, are unreserved: a tenth of its share of
// what the others had reserved at its last round, which the others learn of
// at its next round. Together the bound is quota + quota/10 + 2k in the
// worst case (every node starting on the client at the same moment in a
// window nearly used up), quota + k otherwise; TestQuotaAcrossNodes checks
// it with two nodes in step, out of step and with one busy node, on SQLite
// and PostgreSQL. Only nodes that start within the same second as one
// another, before their
// first round, may each take a share before they count each other. The
// cost: a reservation that one node does not use is free for the others
// only at the next rounds, so a client whose requests reach one node of k
// is refused (429, Retry-After: 1) while its share runs out early in a
// window, and reaches the full quota within a few rounds. Nodes are
// counted as active while they report (every node reports every five
// rounds, quotas or not; a round with nothing to report writes nothing); a
// node that left stops counting within ten rounds, and its reservations
// end with their windows.
//
// Over the quota the token endpoint answers 429 with error slow_down and
// Retry-After: the seconds until the window ends. RFC 6749 §5.2 has no code
// for it; slow_down is RFC 8628 §3.5's "polling too fast" code, which
// OAuth clients already treat as "wait, then retry", and which, unlike
// invalid_request, does not tell a client its request is malformed. Each
// client's first refusal in a window is audited (client.quota_exceeded),
// once per window and node, not per request. Tokens handed out again by the
// reuse window (reuse.go) are not issued, so they do not count.

// QuotaOptions configures the issuance quotas (Options.Quota).
type QuotaOptions struct {
	// PerMinute and PerHour are the quotas of clients that set none of
	// their own (store.Client.QuotaPerMinute, QuotaPerHour); 0: none.
	PerMinute, PerHour int
	// Node names this process in the shared counts; "": a random name.
	Node string
	// SyncInterval is how often the counts are exchanged through the
	// store; zero: a second.
	SyncInterval time.Duration
}

// codeSlowDown is the error code of a refusal over the quota (RFC 8628
// §3.5), see above.
const codeSlowDown = "slow_down"

// The quota windows, in the order of clientQuota.w.
var quotaWindows = [2]struct {
	len  time.Duration
	name string
}{{time.Minute, "minute"}, {time.Hour, "hour"}}

// quotas are the node's counts and shares.
type quotas struct {
	defMinute, defHour int
	node               string
	interval           time.Duration
	exceeded           *prometheus.CounterVec

	mu      sync.Mutex
	clients map[string]*clientQuota
	nodes   int // active nodes at the last round, at least 1
	// others are the other nodes' entries at the last round, for the
	// first tokens of a window this node has none of.
	others map[quotaKey]store.QuotaCount
}

// clientQuota is a client's state in each window.
type clientQuota struct {
	w [2]quotaWindow
}

type quotaWindow struct {
	end       time.Time // the window's end; zero: never used
	limit     int64     // the quota as of the last request
	local     int64     // tokens this node issued in the window
	cap       int64     // this node's reservation: local may reach it
	othersRes int64     // the other nodes' reservations, as of the last round
	others    int64     // the other nodes' tokens, as of the last round
	written   [2]int64  // local and cap as last written to the store
	audited   bool      // the window's refusal is audited
}

// unreservedPart: a node with peers issues a tenth of its share of a window
// before it holds a reservation for it.
const unreservedPart = 10

// quotaKey names a client's window.
type quotaKey struct {
	id  string
	len time.Duration
}

func newQuotas(o QuotaOptions, reg *prometheus.Registry) (*quotas, error) {
	q := &quotas{
		defMinute: o.PerMinute, defHour: o.PerHour,
		node: o.Node, interval: o.SyncInterval,
		clients: map[string]*clientQuota{}, nodes: 1,
		exceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_quota_exceeded_total",
			Help: "Token requests refused because the client is over its issuance quota, by window (minute, hour).",
		}, []string{"window"}),
	}
	if q.interval <= 0 {
		q.interval = time.Second
	}
	if q.node == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		q.node = "node-" + hex.EncodeToString(b[:])
	}
	if err := reg.Register(q.exceeded); err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	for _, w := range quotaWindows {
		q.exceeded.WithLabelValues(w.name)
	}
	return q, nil
}

// limits returns the client's quotas per window; 0: none.
func (q *quotas) limits(c *store.Client) (l [2]int64) {
	for i, v := range [2]struct{ own, def int }{{c.QuotaPerMinute, q.defMinute}, {c.QuotaPerHour, q.defHour}} {
		switch {
		case v.own > 0:
			l[i] = int64(v.own)
		case v.own == 0 && v.def > 0:
			l[i] = int64(v.def)
		}
	}
	return l
}

// share is what a node may issue of rem left among k nodes.
func share(rem int64, k int) int64 {
	if rem <= 0 {
		return 0
	}
	return (rem + int64(k) - 1) / int64(k)
}

// quotaRefusal is a refused take: which window, how long to wait, and
// whether it is the first of the window (to audit).
type quotaRefusal struct {
	window int
	wait   time.Duration
	limit  int64
	usedUp bool // the quota is used up (else this node's share of it, until the next round)
	first  bool // the first refusal of the window with the quota used up
}

// take counts one token for c at now, or refuses it. A client without a
// quota costs no lock.
func (q *quotas) take(c *store.Client, now time.Time) *quotaRefusal {
	lim := q.limits(c)
	if lim[0] == 0 && lim[1] == 0 {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	cq := q.clients[c.ID]
	if cq == nil {
		cq = &clientQuota{}
		q.clients[c.ID] = cq
	}
	for i := range cq.w {
		w := &cq.w[i]
		if lim[i] == 0 {
			*w = quotaWindow{}
			continue
		}
		if !now.Before(w.end) { // a new window
			*w = quotaWindow{end: now.Truncate(quotaWindows[i].len).Add(quotaWindows[i].len), limit: lim[i]}
			if o, ok := q.others[quotaKey{c.ID, quotaWindows[i].len}]; ok && o.End.Equal(w.end) {
				w.others, w.othersRes = o.Count, o.Reserved
			}
			w.cap = share(lim[i]-w.othersRes, q.nodes)
			if q.nodes > 1 { // unreserved until the next round: a tenth of a share
				w.cap = share(w.cap, unreservedPart)
			}
		} else if w.limit != lim[i] { // the client's quota changed
			w.limit = lim[i]
			w.cap = w.local + share(lim[i]-w.othersRes-w.local, q.nodes)
		}
	}
	for i := range cq.w {
		w := &cq.w[i]
		if w.limit == 0 || w.local < w.cap {
			continue
		}
		r := &quotaRefusal{window: i, limit: w.limit, wait: q.interval}
		if w.others+w.local >= w.limit { // used up: wait for the window's end
			r.wait, r.usedUp = w.end.Sub(now), true
			r.first = !w.audited
			w.audited = true
		}
		return r
	}
	for i := range cq.w {
		if cq.w[i].limit > 0 {
			cq.w[i].local++
		}
	}
	return nil
}

// give returns a token taken for c that was not issued after all.
func (q *quotas) give(c *store.Client, now time.Time) {
	lim := q.limits(c)
	if lim[0] == 0 && lim[1] == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if cq := q.clients[c.ID]; cq != nil {
		for i := range cq.w {
			if w := &cq.w[i]; w.limit > 0 && now.Before(w.end) && w.local > 0 {
				w.local--
			}
		}
	}
}

// sync is one round: it renews this node's reservations from the other
// nodes' and the number of active nodes, and writes them with its counts
// where they changed. It runs even with no client under a quota, so that
// every node is counted before its first quota request. A failed round
// leaves the reservations as they are (a node cut off from the store goes
// on with what it reserved).
func (q *quotas) sync(ctx context.Context, st store.Store, now time.Time) error {
	type entry struct {
		key              quotaKey
		end              time.Time
		limit, local     int64
		written          [2]int64
		cap, others, res int64 // decided in the round
	}
	q.mu.Lock()
	var snap []entry
	for id, cq := range q.clients {
		live := false
		for i, w := range cq.w {
			if w.limit == 0 || !now.Before(w.end) {
				continue
			}
			live = true
			snap = append(snap, entry{key: quotaKey{id, quotaWindows[i].len}, end: w.end, limit: w.limit, local: w.local, written: w.written})
		}
		if !live {
			delete(q.clients, id)
		}
	}
	q.mu.Unlock()

	var (
		byKey map[quotaKey]store.QuotaCount
		nodes int
	)
	// A node refreshes its presence every 5 rounds (an idle round writes
	// nothing) and counts the nodes seen in the last 10.
	err := st.SyncQuotas(ctx, q.node, now, now.Add(-5*q.interval), now.Add(-10*q.interval), func(others []store.QuotaCount, n int) []store.QuotaCount {
		nodes = max(1, n)
		byKey = make(map[quotaKey]store.QuotaCount, len(others))
		for _, o := range others {
			byKey[quotaKey{o.ClientID, o.Window}] = o
		}
		var write []store.QuotaCount
		for i := range snap {
			e := &snap[i]
			e.others, e.res = 0, 0
			if o, ok := byKey[e.key]; ok && o.End.Equal(e.end) {
				e.others, e.res = o.Count, o.Reserved
			}
			e.cap = e.local + share(e.limit-e.res-e.local, nodes)
			if e.written != [2]int64{e.local, e.cap} {
				write = append(write, store.QuotaCount{ClientID: e.key.id, Window: e.key.len, End: e.end, Count: e.local, Reserved: e.cap})
			}
		}
		return write
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nodes, q.others = nodes, byKey
	for _, e := range snap {
		cq := q.clients[e.key.id]
		if cq == nil {
			continue
		}
		i := 0
		if e.key.len == time.Hour {
			i = 1
		}
		w := &cq.w[i]
		if !w.end.Equal(e.end) || w.limit != e.limit {
			continue // a new window or quota meanwhile: its next round
		}
		w.cap, w.others, w.othersRes = e.cap, e.others, e.res
		w.written = [2]int64{e.local, e.cap}
	}
	return nil
}

// checkQuota counts a token for cc against its quotas, or refuses the
// request with 429 slow_down and Retry-After; the first refusal of a window
// is audited (one write per client, window and node; a failure to record it
// is logged, and the refusal stands).
func (s *Server) checkQuota(ctx context.Context, cc *cachedClient, now time.Time) error {
	r := s.quota.take(&cc.client, now)
	if r == nil {
		return nil
	}
	name := quotaWindows[r.window].name
	s.quota.exceeded.WithLabelValues(name).Inc()
	if r.first {
		ev := store.AuditEvent{Time: now, Actor: "system", Action: "client.quota_exceeded", Target: cc.client.ID,
			Detail: fmt.Sprintf("over its quota of %d tokens per %s; refused until the window ends", r.limit, name)}
		if err := s.st.RecordAudit(ctx, ev); err != nil {
			s.log.Warn("recording a quota refusal failed", "client_id", cc.client.ID, "err", err)
		}
	}
	secs := int((r.wait + time.Second - 1) / time.Second)
	desc := fmt.Sprintf("this client may be issued at most %d access tokens per %s; reuse the token it has until it expires, or retry after the time in Retry-After", r.limit, name)
	if !r.usedUp {
		desc = fmt.Sprintf("this client is near its quota of %d access tokens per %s, shared among the servers; retry after the time in Retry-After", r.limit, name)
	}
	return &oauth.Error{Code: codeSlowDown, Status: http.StatusTooManyRequests, RetryAfter: max(1, secs), Description: desc}
}

// syncQuotas runs a round, logging a failure.
func (s *Server) syncQuotas(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, feedReadTimeout)
	defer cancel()
	if err := s.quota.sync(rctx, s.st, s.now()); err != nil && ctx.Err() == nil {
		s.log.Warn("exchanging issuance quota counts failed; going on with this node's shares", "err", err)
	}
}

// QuotaUsage is what the app page and the admin API show of a client's
// quota: its quotas in force (0: none) and the tokens issued in the current
// minute and hour, summed over the nodes as they last reported (at most a
// couple of seconds behind).
type QuotaUsage struct {
	PerMinute, PerHour   int
	UsedMinute, UsedHour int64
	MinuteEnds, HourEnds time.Time
}

// ClientQuotaUsage returns c's quotas in force and its usage from the
// store's counts.
func (s *Server) ClientQuotaUsage(ctx context.Context, c store.Client) (QuotaUsage, error) {
	lim := s.quota.limits(&c)
	u := QuotaUsage{PerMinute: int(lim[0]), PerHour: int(lim[1])}
	now := s.now()
	counts, err := s.st.QuotaCounts(ctx, c.ID, now)
	if err != nil {
		return u, err
	}
	for _, qc := range counts {
		switch qc.Window {
		case time.Minute:
			u.UsedMinute, u.MinuteEnds = qc.Count, qc.End
		case time.Hour:
			u.UsedHour, u.HourEnds = qc.Count, qc.End
		}
	}
	return u, nil
}
