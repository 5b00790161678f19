package resource

import (
	"strings"
	"sync"
	"time"
)

// tokenCache holds verified tokens, keyed by a keyed hash (maphash, with a
// per-Guard random seed) of the token, so that a repeated token skips
// parsing and the signature check. A hit compares the whole token, so a
// hash collision is only a miss. An entry is never used from its exp on,
// and the cache never holds more than its size (rounded up to the shards).
type tokenCache struct {
	shards []cacheShard
	per    int // entries per shard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*entry
	_  [40]byte // keep shards on separate cache lines
}

// evictSample is how many entries an insert into a full shard looks at,
// dropping the expired ones among them, or the first if none is.
const evictSample = 8

func newTokenCache(size int) *tokenCache {
	n := 16
	for n > 1 && size/n < 64 {
		n /= 2
	}
	c := &tokenCache{shards: make([]cacheShard, n), per: (size + n - 1) / n}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*entry)
	}
	return c
}

func (c *tokenCache) shard(h uint64) *cacheShard {
	return &c.shards[h%uint64(len(c.shards))]
}

// get returns the entry for tok, if cached and not expired at now.
func (c *tokenCache) get(h uint64, tok string, now time.Time) *entry {
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != tok || now.UnixNano() >= e.exp {
		return nil
	}
	return e
}

// put adds e, unless it has expired at now.
func (c *tokenCache) put(h uint64, e *entry, now time.Time) {
	t := now.UnixNano()
	if t >= e.exp {
		return
	}
	e.token = strings.Clone(e.token) // don't pin the request's memory
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
	s.m[h] = e
}

// clear drops every entry.
func (c *tokenCache) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.m)
		s.mu.Unlock()
	}
}
