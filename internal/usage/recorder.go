// Package usage is usage per credential: the Recorder that a gateway (or
// any resource.Guard, through resource.Config.ObserveCall) fills with what
// it decided per client and endpoint pattern, bounded and batched; the
// Sender that hands its batches to the authorization server every interval
// (in process, or POST /admin/v1/usage with the gateway's client
// credentials); the Tally of tokens issued and source addresses that the
// token endpoint keeps in memory; and the Service that writes both to the
// store (never on the token path) and reads a client's usage back for the
// admin API and the console.
package usage

import (
	"cmp"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/resource"
)

// Fixed patterns: calls whose path no catalog pattern matched, and calls of
// (client, pattern) pairs beyond the Recorder's bound.
const (
	Unmatched = "unmatched"
	Other     = "other"
)

// OtherReason counts a denial whose reason the Recorder does not know.
const OtherReason = "other"

// reasons are the denial reasons the Recorder counts apart, by index.
var reasons = [...]string{
	resource.ReasonMissingToken, resource.ReasonInvalidToken, resource.ReasonExpired,
	resource.ReasonRevoked, resource.ReasonInsufficientScope, resource.ReasonAccountMismatch,
	resource.ReasonOutsideBasePath, resource.ReasonInvalidRequest, resource.ReasonUnavailable,
	resource.ReasonInvalidDPoPProof, resource.ReasonDPoPBound, OtherReason,
}

func reasonIndex(r string) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	return len(reasons) - 1
}

// KnownReason reports whether r is a reason the Recorder counts apart.
func KnownReason(r string) bool { return slices.Contains(reasons[:], r) }

// DefaultMaxKeys bounds the distinct (client, pattern) pairs of a window.
const DefaultMaxKeys = 10000

const nShards = 16 // a power of two

type key struct{ client, pattern string }

type counts struct {
	allowed atomic.Int64
	denied  [len(reasons)]atomic.Int64
	last    atomic.Int64 // Unix seconds
}

type shard struct {
	mu sync.RWMutex
	m  map[key]*counts
	_  [64]byte // keep shards' locks on their own cache lines
}

// A Recorder counts calls per client and endpoint pattern, allowed and
// denied by reason, with the last time each was seen, until Take. It holds
// at most maxKeys distinct (client, pattern) pairs between two Takes;
// calls of further pairs are counted under the client "" and the pattern
// Other (Overflow counts them too). Recording a call of a pair already
// seen since the last Take does not allocate. Safe for concurrent use.
type Recorder struct {
	max    int64
	shards [nShards]shard
	keys   atomic.Int64 // distinct pairs since the last Take

	overflow atomic.Int64 // calls counted under Other, ever

	// Totals of what Take returned, for metrics: per pattern and outcome,
	// and, with LabelClients, per client (at most maxClients of them, the
	// first seen; the others as Other) and outcome.
	mu           sync.Mutex
	totals       map[outcomeKey]int64
	maxClients   int
	clientSeries map[string]bool
	clientTotals map[outcomeKey]int64 // pattern holds the client
}

type outcomeKey struct{ pattern, outcome string }

// NewRecorder returns a Recorder of at most maxKeys pairs per window; 0
// means DefaultMaxKeys.
func NewRecorder(maxKeys int) *Recorder {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	r := &Recorder{max: int64(maxKeys), totals: make(map[outcomeKey]int64)}
	for i := range r.shards {
		r.shards[i].m = make(map[key]*counts)
	}
	return r
}

// LabelClients makes the metrics also count calls per client, for at most
// n clients (the first counted; further ones count as Other), so the label set
// stays bounded. Call it before the Recorder is used; 0 (the default): no
// client label.
func (r *Recorder) LabelClients(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxClients = n
	r.clientSeries = make(map[string]bool)
	r.clientTotals = make(map[outcomeKey]int64)
}

// clientLabel is the client label of client's calls: itself, or Other
// once maxClients clients have one. r.mu is held.
func (r *Recorder) clientLabel(client string) string {
	if client == "" {
		return ""
	}
	if !r.clientSeries[client] {
		if len(r.clientSeries) >= r.maxClients {
			return Other
		}
		r.clientSeries[client] = true
	}
	return client
}

// ObserveCall records c; it is a resource.Config.ObserveCall.
func (r *Recorder) ObserveCall(_ *http.Request, c resource.Call) {
	r.Record(c.ClientID, c.Pattern, c.Allowed, c.Reason, c.At)
}

// Record counts one call of client to pattern ("" is Unmatched), allowed or
// denied for reason, at at.
func (r *Recorder) Record(client, pattern string, allowed bool, reason string, at time.Time) {
	if pattern == "" {
		pattern = Unmatched
	}
	k := key{client, pattern}
	sh := &r.shards[shardOf(client, pattern)]
	sh.mu.RLock()
	if c := sh.m[k]; c != nil {
		c.add(allowed, reason, at)
		sh.mu.RUnlock()
		return
	}
	sh.mu.RUnlock()
	sh.mu.Lock()
	c := sh.m[k]
	if c == nil {
		if r.keys.Load() >= r.max {
			r.overflow.Add(1)
			k = key{"", Other}
			c = sh.m[k]
		}
		if c == nil {
			c = new(counts)
			sh.m[k] = c
			if k.pattern != Other || k.client != "" {
				r.keys.Add(1)
			}
		}
	}
	c.add(allowed, reason, at)
	sh.mu.Unlock()
}

// shardOf picks a shard from the last bytes and lengths of the pair: only
// lock contention depends on it, and client IDs (generated ones end in
// random characters) spread well enough, without hashing what the map
// lookup hashes again.
func shardOf(client, pattern string) int {
	h := len(client)*7 + len(pattern)
	if client != "" {
		h += int(client[len(client)-1]) * 31
	}
	if pattern != "" {
		h += int(pattern[len(pattern)-1])
	}
	return h & (nShards - 1)
}

func (c *counts) add(allowed bool, reason string, at time.Time) {
	if allowed {
		c.allowed.Add(1)
	} else {
		c.denied[reasonIndex(reason)].Add(1)
	}
	// At most one store a second per pair.
	if s := at.Unix(); s > c.last.Load() {
		c.last.Store(s)
	}
}

// Overflow returns how many calls were counted under Other since the
// Recorder was made.
func (r *Recorder) Overflow() int64 { return r.overflow.Load() }

// Keys returns the number of distinct pairs recorded since the last Take.
func (r *Recorder) Keys() int64 { return r.keys.Load() }

// Take returns what was recorded since the last Take, by client and
// pattern, and starts a new window. It returns an empty report if nothing
// was.
func (r *Recorder) Take() admin.UsageReport {
	var rep admin.UsageReport
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		old := sh.m
		sh.m = make(map[key]*counts, len(old))
		sh.mu.Unlock()
		// No writer holds an entry of old now: they add under the lock.
		for k, c := range old {
			u := admin.UsageCalls{ClientID: k.client, Pattern: k.pattern, Allowed: c.allowed.Load(),
				LastSeen: time.Unix(c.last.Load(), 0).UTC()}
			cl := ""
			if r.maxClients > 0 {
				cl = r.clientLabel(k.client)
			}
			if u.Allowed > 0 {
				r.totals[outcomeKey{k.pattern, ""}] += u.Allowed
				if cl != "" {
					r.clientTotals[outcomeKey{cl, ""}] += u.Allowed
				}
			}
			for j := range c.denied {
				if n := c.denied[j].Load(); n > 0 {
					if u.Denied == nil {
						u.Denied = make(map[string]int64)
					}
					u.Denied[reasons[j]] = n
					r.totals[outcomeKey{k.pattern, reasons[j]}] += n
					if cl != "" {
						r.clientTotals[outcomeKey{cl, reasons[j]}] += n
					}
				}
			}
			rep.Calls = append(rep.Calls, u)
		}
	}
	r.keys.Store(0)
	rep = Merge(rep, admin.UsageReport{}, 0) // one Other pair, not one a shard
	slices.SortFunc(rep.Calls, func(a, b admin.UsageCalls) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Pattern, b.Pattern))
	})
	return rep
}

// Merge adds b's calls to a, as one report: counts add up, the later
// last-seen time stays. At most max pairs are kept (0: no bound); the
// calls of further pairs go to the client "" and the pattern Other.
func Merge(a, b admin.UsageReport, max int) admin.UsageReport {
	idx := make(map[key]int, len(a.Calls)+len(b.Calls))
	var out admin.UsageReport
	add := func(u admin.UsageCalls) {
		k := key{u.ClientID, u.Pattern}
		i, ok := idx[k]
		if !ok && max > 0 && len(out.Calls) >= max {
			k = key{"", Other}
			i, ok = idx[k]
			u.ClientID, u.Pattern = "", Other
		}
		if !ok {
			idx[k] = len(out.Calls)
			u.Denied = cloneMap(u.Denied)
			out.Calls = append(out.Calls, u)
			return
		}
		o := &out.Calls[i]
		o.Allowed += u.Allowed
		for r, n := range u.Denied {
			if o.Denied == nil {
				o.Denied = make(map[string]int64)
			}
			o.Denied[r] += n
		}
		if u.LastSeen.After(o.LastSeen) {
			o.LastSeen = u.LastSeen
		}
	}
	for _, u := range a.Calls {
		add(u)
	}
	for _, u := range b.Calls {
		add(u)
	}
	return out
}

func cloneMap(m map[string]int64) map[string]int64 {
	if m == nil {
		return nil
	}
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
