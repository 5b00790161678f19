package usage

import (
	"iter"
	"sync"
	"time"
	"unique"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Defaults of a Tally's bounds.
const (
	// DefaultMaxClients is how many clients a Tally holds before it asks
	// to be written early (Full), so that memory does not grow with the
	// clients used in an interval.
	DefaultMaxClients = 10_000
	// DefaultMaxAddresses bounds the source addresses kept per client,
	// in a Tally between two flushes and in the store.
	DefaultMaxAddresses = 20
)

// overfill: a Tally whose write is late keeps counting up to overfill
// times its maxClients clients; past that, new clients' tokens are
// dropped (Dropped) rather than held without bound.
const overfill = 4

// A Tally counts, in memory, the tokens issued per client and day and the
// source addresses each client got them from, for the Service to write in
// the background: the token endpoint never writes. Once it holds
// maxClients clients it signals Full, and the Service writes it then
// rather than at its interval; it keeps counting meanwhile, up to
// overfill times maxClients, and keeps maxAddresses addresses per client
// between two takes. What does not fit is counted in Dropped. Safe for
// concurrent use.
type Tally struct {
	maxClients, maxAddresses int
	full                     chan struct{}

	mu      sync.Mutex
	clients map[string]*clientTally
	dropped int64
}

// clientTally is one client's counts since the last take: tokens of one
// day (those of other days, when a take spans midnight, in older) and its
// addresses, the first inline (the common case: one address).
type clientTally struct {
	day    int64 // Unix day of tokens
	tokens int64
	older  map[int64]int64 // Unix day → tokens, for days other than day
	addr   addrTally       // addr.addr "": none yet
	more   []addrTally
}

type addrTally struct {
	addr        string
	count       int64
	first, last int64 // Unix nanoseconds
}

// NewTally returns a Tally with the bounds (0: the defaults).
func NewTally(maxClients, maxAddresses int) *Tally {
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	if maxAddresses <= 0 {
		maxAddresses = DefaultMaxAddresses
	}
	return &Tally{maxClients: maxClients, maxAddresses: maxAddresses, full: make(chan struct{}, 1),
		clients: make(map[string]*clientTally)}
}

// Full is signalled when the Tally holds its maxClients clients.
func (t *Tally) Full() <-chan struct{} { return t.full }

// Issued counts a token issued to client at now, requested from addr (""
// if unknown).
func (t *Tally) Issued(client, addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[client]
	if c == nil {
		switch n := len(t.clients); {
		case n >= overfill*t.maxClients:
			t.dropped++
			return
		case n+1 == t.maxClients:
			select {
			case t.full <- struct{}{}:
			default:
			}
		}
		c = &clientTally{day: now.Unix() / 86400}
		t.clients[client] = c
	}
	c.addTokens(now.Unix()/86400, 1)
	if addr == "" {
		return
	}
	a := c.address(addr, t.maxAddresses)
	if a == nil {
		t.dropped++
		return
	}
	at := now.UnixNano()
	if a.count == 0 {
		a.first = at
	}
	a.count++
	a.last = at
}

// addTokens counts n tokens of Unix day day.
func (c *clientTally) addTokens(day, n int64) {
	if day == c.day {
		c.tokens += n
		return
	}
	if c.older == nil {
		c.older = make(map[int64]int64, 1)
	}
	c.older[day] += n
}

// address returns the client's count of addr, a new one (count 0) if it
// has none yet; nil if it has max addresses already.
func (c *clientTally) address(addr string, max int) *addrTally {
	if c.addr.addr == addr {
		return &c.addr
	}
	for i := range c.more {
		if c.more[i].addr == addr {
			return &c.more[i]
		}
	}
	addr = unique.Make(addr).Value()
	if c.addr.addr == "" {
		c.addr.addr = addr
		return &c.addr
	}
	if 1+len(c.more) >= max {
		return nil
	}
	c.more = append(c.more, addrTally{addr: addr})
	return &c.more[len(c.more)-1]
}

// addresses calls f with each of the client's addresses.
func (c *clientTally) addresses(f func(a addrTally)) {
	if c.addr.addr == "" {
		return
	}
	f(c.addr)
	for _, a := range c.more {
		f(a)
	}
}

// restore puts back the counts of a client that were taken but not
// written, adding them to what was counted since; what does not fit (the
// Tally's bounds) is counted in Dropped. Full is not signalled: the write
// that failed is tried again at the Service's next interval, not at once.
func (t *Tally) restore(id string, c *clientTally) {
	into := t.clients[id]
	if into == nil {
		if len(t.clients) < overfill*t.maxClients {
			t.clients[id] = c
			return
		}
		t.dropped += c.tokens
		for _, n := range c.older {
			t.dropped += n
		}
		return
	}
	if c.tokens > 0 {
		into.addTokens(c.day, c.tokens)
	}
	for d, n := range c.older {
		into.addTokens(d, n)
	}
	c.addresses(func(a addrTally) {
		m := into.address(a.addr, t.maxAddresses)
		if m == nil {
			t.dropped += a.count
			return
		}
		if m.count == 0 || a.first < m.first {
			m.first = a.first
		}
		m.last = max(m.last, a.last)
		m.count += a.count
	})
}

// Dropped returns how many tokens or addresses did not fit since the Tally
// was made.
func (t *Tally) Dropped() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// take hands over what was counted since the last take, as store reports
// of at most perReport clients each, made one at a time as they are asked
// for: the counts of the clients already reported are garbage while the
// rest are written, so a Tally being written holds about its own size, not
// that again in reports. A report the caller does not accept (yield
// returns false: its write failed) and those not yet made are restored,
// to be written with the next take.
func (t *Tally) take(perReport int) iter.Seq[store.UsageReport] {
	t.mu.Lock()
	old := t.clients
	t.clients = make(map[string]*clientTally)
	t.mu.Unlock()
	return func(yield func(store.UsageReport) bool) {
		var (
			r       store.UsageReport
			clients = make(map[string]*clientTally, perReport) // r's
		)
		for id, c := range old {
			delete(old, id)
			clients[id] = c
			if c.tokens > 0 {
				r.Tokens = append(r.Tokens, store.UsageTokens{ClientID: id, Day: dayString(c.day), Count: c.tokens})
			}
			for d, k := range c.older {
				r.Tokens = append(r.Tokens, store.UsageTokens{ClientID: id, Day: dayString(d), Count: k})
			}
			c.addresses(func(a addrTally) {
				r.Addresses = append(r.Addresses, store.UsageAddress{ClientID: id, Address: a.addr, Count: a.count,
					FirstSeen: time.Unix(0, a.first), LastSeen: time.Unix(0, a.last)})
			})
			if len(clients) == perReport {
				if !yield(r) {
					t.restoreAll(clients, old)
					return
				}
				r = store.UsageReport{}
				clear(clients)
			}
		}
		if len(clients) > 0 && !yield(r) {
			t.restoreAll(clients, old)
		}
	}
}

// restoreAll restores the clients of each map.
func (t *Tally) restoreAll(ms ...map[string]*clientTally) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range ms {
		for id, c := range m {
			t.restore(id, c)
		}
	}
}

// dayString is the UTC date of Unix day d, YYYY-MM-DD.
func dayString(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// Day is the UTC date of t, YYYY-MM-DD, as usage is kept.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
