package usage

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Defaults of a Tally's bounds.
const (
	// DefaultMaxClients bounds the clients a Tally holds between two
	// flushes.
	DefaultMaxClients = 100000
	// DefaultMaxAddresses bounds the source addresses kept per client,
	// in a Tally between two flushes and in the store.
	DefaultMaxAddresses = 20
)

// A Tally counts, in memory, the tokens issued per client and day and the
// source addresses each client got them from, for the Service to write in
// the background: the token endpoint never writes. It holds at most
// maxClients clients and maxAddresses addresses per client between two
// takes; what does not fit is counted in Dropped. Safe for concurrent use.
type Tally struct {
	maxClients, maxAddresses int

	mu      sync.Mutex
	clients map[string]*clientTally
	dropped int64
}

type clientTally struct {
	tokens map[int64]int64 // Unix day → tokens
	addrs  map[string]*addrTally
}

type addrTally struct {
	count       int64
	first, last time.Time
}

// NewTally returns a Tally with the bounds (0: the defaults).
func NewTally(maxClients, maxAddresses int) *Tally {
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	if maxAddresses <= 0 {
		maxAddresses = DefaultMaxAddresses
	}
	return &Tally{maxClients: maxClients, maxAddresses: maxAddresses, clients: make(map[string]*clientTally)}
}

// Issued counts a token issued to client at now, requested from addr (""
// if unknown).
func (t *Tally) Issued(client, addr string, now time.Time) {
	day := now.Unix() / 86400
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[client]
	if c == nil {
		if len(t.clients) >= t.maxClients {
			t.dropped++
			return
		}
		c = &clientTally{tokens: make(map[int64]int64, 1)}
		t.clients[client] = c
	}
	c.tokens[day]++
	if addr == "" {
		return
	}
	a := c.addrs[addr]
	if a == nil {
		if len(c.addrs) >= t.maxAddresses {
			t.dropped++
			return
		}
		if c.addrs == nil {
			c.addrs = make(map[string]*addrTally, 1)
		}
		a = &addrTally{first: now}
		c.addrs[addr] = a
	}
	a.count++
	a.last = now
}

// Dropped returns how many tokens or addresses did not fit since the Tally
// was made.
func (t *Tally) Dropped() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// take returns what was counted since the last take, as store rows.
func (t *Tally) take() (tokens []store.UsageTokens, addrs []store.UsageAddress) {
	t.mu.Lock()
	old := t.clients
	t.clients = make(map[string]*clientTally)
	t.mu.Unlock()
	for id, c := range old {
		for d, n := range c.tokens {
			tokens = append(tokens, store.UsageTokens{ClientID: id, Day: dayString(d), Count: n})
		}
		for addr, a := range c.addrs {
			addrs = append(addrs, store.UsageAddress{ClientID: id, Address: addr, Count: a.count, FirstSeen: a.first, LastSeen: a.last})
		}
	}
	return tokens, addrs
}

// dayString is the UTC date of Unix day d, YYYY-MM-DD.
func dayString(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// Day is the UTC date of t, YYYY-MM-DD, as usage is kept.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }
