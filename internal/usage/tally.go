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
	day := now.Unix() / 86400
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
		c = &clientTally{day: day}
		t.clients[client] = c
	}
	if day == c.day {
		c.tokens++
	} else {
		if c.older == nil {
			c.older = make(map[int64]int64, 1)
		}
		c.older[day]++
	}
	if addr == "" {
		return
	}
	at := now.UnixNano()
	a := &c.addr
	if a.addr != "" && a.addr != addr {
		a = nil
		for i := range c.more {
			if c.more[i].addr == addr {
				a = &c.more[i]
				break
			}
		}
		if a == nil {
			if 1+len(c.more) >= t.maxAddresses {
				t.dropped++
				return
			}
			c.more = append(c.more, addrTally{})
			a = &c.more[len(c.more)-1]
		}
	}
	if a.addr == "" {
		*a = addrTally{addr: unique.Make(addr).Value(), first: at}
	}
	a.count++
	a.last = at
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
// that again in reports.
func (t *Tally) take(perReport int) iter.Seq[store.UsageReport] {
	t.mu.Lock()
	old := t.clients
	t.clients = make(map[string]*clientTally)
	t.mu.Unlock()
	return func(yield func(store.UsageReport) bool) {
		var (
			r store.UsageReport
			n int
		)
		for id, c := range old {
			delete(old, id)
			n++
			if c.tokens > 0 {
				r.Tokens = append(r.Tokens, store.UsageTokens{ClientID: id, Day: dayString(c.day), Count: c.tokens})
			}
			for d, k := range c.older {
				r.Tokens = append(r.Tokens, store.UsageTokens{ClientID: id, Day: dayString(d), Count: k})
			}
			if c.addr.addr != "" {
				for _, a := range append([]addrTally{c.addr}, c.more...) {
					r.Addresses = append(r.Addresses, store.UsageAddress{ClientID: id, Address: a.addr, Count: a.count,
						FirstSeen: time.Unix(0, a.first), LastSeen: time.Unix(0, a.last)})
				}
			}
			if n == perReport {
				if !yield(r) {
					return
				}
				r, n = store.UsageReport{}, 0
			}
		}
		if n > 0 {
			yield(r)
		}
	}
}

// dayString is the UTC date of Unix day d, YYYY-MM-DD.
func dayString(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// Day is the UTC date of t, YYYY-MM-DD, as usage is kept.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
