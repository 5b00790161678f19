// Package tokencache is the verified-token cache of the resource package's
// guard and of the authorization server's introspection: what was learned
// from a token's signature and claims, kept until the token expires, so
// that a repeated token skips parsing and the signature check.
package tokencache

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// Cache holds an entry E per verified token, keyed by a keyed hash
// (maphash, with a random seed per Cache) of the token. A hit compares the
// whole token, so a hash collision is only a miss. An entry is never used
// from its token's exp on, and the cache never holds more than its size
// (rounded up to the shards); an insert into a full shard drops the expired
// entries among a sample, or one at random. Safe for concurrent use.
type Cache[E any] struct {
	seed   maphash.Seed
	shards []shard[E]
	per    int // entries per shard
}

type shard[E any] struct {
	mu sync.RWMutex
	m  map[uint64]item[E]
	_  [40]byte // keep shards on separate cache lines
}

type item[E any] struct {
	token string
	exp   int64 // Unix nanoseconds: not used from then on
	e     E
}

// evictSample is how many entries an insert into a full shard looks at.
const evictSample = 8

// New returns a cache of at most about size entries (size ≥ 1).
func New[E any](size int) *Cache[E] {
	n := 16
	for n > 1 && size/n < 64 {
		n /= 2
	}
	c := &Cache[E]{seed: maphash.MakeSeed(), shards: make([]shard[E], n), per: (size + n - 1) / n}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]item[E])
	}
	return c
}

func (c *Cache[E]) shard(h uint64) *shard[E] { return &c.shards[h%uint64(len(c.shards))] }

// Get returns tok's entry, if cached and tok has not expired at now.
func (c *Cache[E]) Get(tok string, now time.Time) (E, bool) {
	return c.get(maphash.String(c.seed, tok), tok, now)
}

func (c *Cache[E]) get(h uint64, tok string, now time.Time) (E, bool) {
	s := c.shard(h)
	s.mu.RLock()
	it, ok := s.m[h]
	s.mu.RUnlock()
	if !ok || it.token != tok || now.UnixNano() >= it.exp {
		var zero E
		return zero, false
	}
	return it.e, true
}

// Put caches e for tok, which expires at exp (Unix nanoseconds), unless it
// has expired at now.
func (c *Cache[E]) Put(tok string, exp int64, e E, now time.Time) {
	c.put(maphash.String(c.seed, tok), tok, exp, e, now)
}

func (c *Cache[E]) put(h uint64, tok string, exp int64, e E, now time.Time) {
	t := now.UnixNano()
	if t >= exp {
		return
	}
	it := item[E]{token: strings.Clone(tok), exp: exp, e: e} // don't pin the request's memory
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.per {
		// Map iteration starts at a random place: a sampled eviction.
		var first uint64
		seen, dropped := 0, 0
		for k, v := range s.m {
			if seen == 0 {
				first = k
			}
			if t >= v.exp {
				delete(s.m, k)
				dropped++
			}
			if seen++; seen == evictSample {
				break
			}
		}
		if dropped == 0 {
			delete(s.m, first)
		}
	}
	s.m[h] = it
}

// Len is the number of entries held.
func (c *Cache[E]) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Clear drops every entry.
func (c *Cache[E]) Clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
