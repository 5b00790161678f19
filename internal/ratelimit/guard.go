package ratelimit

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Guard protects a credential check — a client secret, a user's password —
// against guessing without locking out the people who know the answer.
//
// Failures are counted per subject (the client ID or username tried) and
// per source address. While either has no allowance left, an attempt is
// refused before its credential is checked, so an attacker learns nothing
// from guesses made over the limit. Exempt are (subject, address) pairs
// that authenticated successfully within the remembered period
// (GuardOptions.Remember): a client or user who got in from an address keeps getting in
// from it while someone else exhausts the limits of its ID or of the
// address they share. A remembered pair's own failures count against that
// pair only, at the subject's rate, so it cannot be used to guess faster
// than anyone else.
//
// A Guard is safe for concurrent use. A remembered pair's attempt costs
// one read-locked lookup in one of 64 map shards; a pair's first success,
// its refresh (at most once a minute) and its failures write to the map.
type Guard struct {
	perSubject, perAddr *Failures
	pairRate            rate.Limit // for a remembered pair's own failures
	burst               int
	remember            time.Duration // <= 0: remember no pairs
	pairs               pairMap
	lastPrune           atomic.Int64 // unix nanoseconds
}

// GuardOptions configures a Guard. The zero value limits nothing and
// remembers no pairs.
type GuardOptions struct {
	// PerSubject and PerAddress are the failures allowed a minute per
	// subject and per address after Burst failures at once; <= 0 means no
	// limit.
	PerSubject, PerAddress, Burst int
	// Remember is how long a (subject, address) pair that authenticated
	// passes the limits; zero or negative means never.
	Remember time.Duration
}

// maxPairs bounds the remembered pairs; past it the least recently
// successful are forgotten first.
const maxPairs = 100_000

// NewGuard returns a Guard.
func NewGuard(o GuardOptions) *Guard {
	g := &Guard{
		perSubject: NewFailures(o.PerSubject, o.Burst),
		perAddr:    NewFailures(o.PerAddress, o.Burst),
		burst:      max(o.Burst, 1),
		remember:   o.Remember,
	}
	g.pairRate = min(g.perSubject.limit, g.perAddr.limit)
	g.pairs.init(maxPairs)
	return g
}

// Attempt is one attempt to authenticate that Check let through. Report
// its outcome with Success or Failure.
type Attempt struct {
	g             *Guard
	known         bool   // the pair is remembered
	id            pairID // the pair's key, if remember > 0
	last          int64  // the remembered pair's last success
	subject, addr string
	now           time.Time
}

// Check decides whether subject may be tried from addr now. If not, it
// returns how long until it may (whole seconds, at least one); the
// credential must then not be checked at all.
func (g *Guard) Check(subject, addr string, now time.Time) (Attempt, time.Duration, bool) {
	a := Attempt{g: g, subject: subject, addr: addr, now: now}
	if g.remember > 0 {
		a.id = g.pairs.id(subject, addr)
		if p, ok := g.pairs.get(a.id); ok && now.UnixNano()-p.last < int64(g.remember) {
			a.known, a.last = true, p.last
			if p.fails != nil {
				if t := p.fails.TokensAt(now); t < 1 {
					return a, waitFor(g.pairRate, t), false
				}
			}
			return a, 0, true
		}
	}
	w1, ex1 := g.perAddr.Exhausted(addr, now)
	w2, ex2 := g.perSubject.Exhausted(subject, now)
	if ex1 || ex2 {
		return a, max(w1, w2), false
	}
	return a, 0, true
}

// Success records that the attempt authenticated: its pair is remembered
// from now on.
func (a Attempt) Success() {
	g := a.g
	if g.remember <= 0 {
		return
	}
	now := a.now.UnixNano()
	// A remembered pair is refreshed at most once a minute, so a busy
	// client does not write on every request.
	if a.known && now-a.last < int64(time.Minute) {
		return
	}
	g.pairs.put(a.id, now, now-int64(g.remember))
	g.maybePrune(a.now)
}

// Failure records that the attempt failed and reports whether that went
// over an allowance, and if so how long until there is allowance again.
// A remembered pair's failure counts against the pair alone; any other
// against its subject and its address.
func (a Attempt) Failure() (time.Duration, bool) {
	g := a.g
	defer g.maybePrune(a.now)
	if a.known {
		if g.pairRate == rate.Inf {
			return 0, false
		}
		if lim := g.pairs.failures(a.id, g.pairRate, g.burst); lim != nil {
			if lim.AllowN(a.now, 1) {
				return 0, false
			}
			return waitFor(g.pairRate, lim.TokensAt(a.now)), true
		}
		// Forgotten since Check: counted like any other pair's.
	}
	w1, over1 := g.perAddr.Spend(a.addr, a.now)
	var w2 time.Duration
	var over2 bool
	if a.subject != "" {
		w2, over2 = g.perSubject.Spend(a.subject, a.now)
	}
	return max(w1, w2), over1 || over2
}

// Prune drops failure state that is back at full allowance and pairs not
// successful within the remembered period. The Guard also does this by
// itself at most once a minute, when it records an outcome.
func (g *Guard) Prune(now time.Time) {
	g.lastPrune.Store(now.UnixNano())
	g.perSubject.Prune(now)
	g.perAddr.Prune(now)
	g.pairs.prune(now, now.UnixNano()-int64(g.remember), g.burst)
}

func (g *Guard) maybePrune(now time.Time) {
	last := g.lastPrune.Load()
	if now.UnixNano()-last < int64(time.Minute) || !g.lastPrune.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	g.Prune(now)
}

// pairID identifies a (subject, address) pair: a 128-bit hash of the
// two, keyed with seeds drawn when the process starts. Two pairs share an
// entry only if their hashes collide, which among the pairs remembered is
// about as likely as guessing a 128-bit key, and the seeds are not known
// outside the process, so no one can search for a collision. Holding the
// hash instead of the strings keeps a pair at about 40 bytes.
type pairID [2]uint64

// pair is what is remembered of a pair.
type pair struct {
	last  int64         // unix nanoseconds of the last success
	fails *rate.Limiter // the pair's own failures; nil: none lately
}

const pairShards = 64

// pairMap maps pairs to what is remembered of them, in shards so that
// lookups from many goroutines do not contend on one lock.
type pairMap struct {
	seeds    [2]maphash.Seed
	perShard int
	shards   [pairShards]pairShard
}

type pairShard struct {
	mu sync.RWMutex
	m  map[pairID]pair
	_  [32]byte // keep shards on separate cache lines
}

func (pm *pairMap) init(max int) {
	pm.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	pm.perShard = max / pairShards
	for i := range pm.shards {
		pm.shards[i].m = make(map[pairID]pair)
	}
}

// id returns the pair's key. A 0 byte cannot occur in a subject or an
// address, so different pairs never hash the same bytes.
func (pm *pairMap) id(subject, addr string) pairID {
	var buf [96]byte
	k := append(buf[:0], addr...)
	k = append(k, 0)
	k = append(k, subject...)
	return pairID{maphash.Bytes(pm.seeds[0], k), maphash.Bytes(pm.seeds[1], k)}
}

func (pm *pairMap) shard(id pairID) *pairShard {
	return &pm.shards[id[0]%pairShards]
}

func (pm *pairMap) get(id pairID) (pair, bool) {
	sh := pm.shard(id)
	sh.mu.RLock()
	p, ok := sh.m[id]
	sh.mu.RUnlock()
	return p, ok
}

// put records a success of the pair at now; entries older than expired are
// dropped to make room when the shard is full.
func (pm *pairMap) put(id pairID, now, expired int64) {
	sh := pm.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if p, ok := sh.m[id]; ok {
		p.last = now
		sh.m[id] = p
		return
	}
	if len(sh.m) >= pm.perShard {
		sh.m = evict(sh.m, expired, pm.perShard)
	}
	sh.m[id] = pair{last: now}
}

// failures returns the remembered pair's failure limiter, made with the
// rate and burst if it has none; nil if the pair is no longer remembered.
func (pm *pairMap) failures(id pairID, r rate.Limit, burst int) *rate.Limiter {
	sh := pm.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	p, ok := sh.m[id]
	if !ok {
		return nil
	}
	if p.fails == nil {
		p.fails = rate.NewLimiter(r, burst)
		sh.m[id] = p
	}
	return p.fails
}

// evict drops the pairs that expired and, if that frees too little, the
// eighth of the shard least recently successful. It returns the pairs kept
// in a new map: a Go map does not give back the room of deleted entries,
// so under churn the old one would grow to several times the size of one
// made for them.
func evict(m map[pairID]pair, expired int64, capacity int) map[pairID]pair {
	kept := make(map[pairID]pair, capacity)
	for k, p := range m {
		if p.last > expired {
			kept[k] = p
		}
	}
	if len(kept) < capacity-capacity/16 {
		return kept
	}
	lasts := make([]int64, 0, len(kept))
	for _, p := range kept {
		lasts = append(lasts, p.last)
	}
	slices.Sort(lasts)
	cut := lasts[len(lasts)/8]
	for k, p := range kept {
		if p.last <= cut {
			delete(kept, k)
		}
	}
	return kept
}

// prune drops the pairs that expired and the failure limiters back at full
// allowance, keeping the rest in new maps (see evict).
func (pm *pairMap) prune(now time.Time, expired int64, burst int) {
	for i := range pm.shards {
		sh := &pm.shards[i]
		sh.mu.Lock()
		kept := make(map[pairID]pair, len(sh.m))
		for k, p := range sh.m {
			if p.last <= expired {
				continue
			}
			if p.fails != nil && p.fails.TokensAt(now) >= float64(burst) {
				p.fails = nil
			}
			kept[k] = p
		}
		sh.m = kept
		sh.mu.Unlock()
	}
}

// len is the number of remembered pairs.
func (pm *pairMap) len() int {
	n := 0
	for i := range pm.shards {
		sh := &pm.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
