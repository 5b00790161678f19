package resource

import (
	"hash/maphash"
	"strconv"
	"testing"
	"time"
)

func TestCacheHit(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run("CacheSize="+strconv.Itoa(size), func(t *testing.T) {
			iss := newIssuer(t)
			e := newEnv(t, iss, func(c *Config) { c.CacheSize = size })
			tok := iss.token("api")
			for range 2 {
				if w := e.do("GET", "/records/1", tok); w.Code != 200 {
					t.Fatalf("status %d", w.Code)
				}
			}
			// A hit hands the handler the claims verified the first time.
			shared := e.claims[0] == e.claims[1]
			if want := size >= 0; shared != want {
				t.Errorf("same *Claims for a repeated token: %v, want %v", shared, want)
			}
		})
	}
}

func TestCacheEntryExpires(t *testing.T) {
	c := newTokenCache(10)
	now := time.Unix(1000, 0)
	e := &entry{token: "tok", exp: now.Add(time.Minute).UnixNano(), claims: &Claims{}}
	c.put(1, e, now)
	if c.get(1, "tok", now.Add(time.Minute-1)) == nil {
		t.Error("miss before exp")
	}
	if c.get(1, "tok", now.Add(time.Minute)) != nil {
		t.Error("hit at exp")
	}
	// Never stored when already expired.
	c.put(2, &entry{token: "old", exp: now.UnixNano()}, now)
	if c.get(2, "old", now.Add(-time.Hour)) != nil {
		t.Error("an expired entry was stored")
	}
}

func TestCacheCollision(t *testing.T) {
	c := newTokenCache(10)
	now := time.Unix(1000, 0)
	c.put(7, &entry{token: "a", exp: now.Add(time.Hour).UnixNano()}, now)
	if c.get(7, "b", now) != nil {
		t.Error("a different token with the same hash was a hit")
	}
	c.put(7, &entry{token: "b", exp: now.Add(time.Hour).UnixNano()}, now)
	if c.get(7, "b", now) == nil || c.get(7, "a", now) != nil {
		t.Error("the newer token does not replace the older under one hash")
	}
}

func TestCacheBounded(t *testing.T) {
	for _, size := range []int{1, 10, 100, 1000, 10000} {
		c := newTokenCache(size)
		now := time.Unix(1000, 0)
		seed := maphash.MakeSeed()
		for i := range size * 5 {
			tok := "token-" + strconv.Itoa(i)
			c.put(maphash.String(seed, tok), &entry{token: tok, exp: now.Add(time.Hour).UnixNano()}, now)
		}
		n := 0
		for i := range c.shards {
			n += len(c.shards[i].m)
		}
		if limit := c.per * len(c.shards); n > limit || limit > size+len(c.shards) {
			t.Errorf("size %d: %d entries, limit %d", size, n, limit)
		}
		if n < size/2 {
			t.Errorf("size %d: only %d entries kept", size, n)
		}
	}
}

func TestCacheEvictsExpiredFirst(t *testing.T) {
	c := newTokenCache(1) // room for one entry
	now := time.Unix(1000, 0)
	c.put(1, &entry{token: "short", exp: now.Add(time.Second).UnixNano()}, now)
	later := now.Add(2 * time.Second)
	c.put(2, &entry{token: "long", exp: later.Add(time.Hour).UnixNano()}, later)
	if c.get(2, "long", later) == nil {
		t.Error("the new entry is missing")
	}
	if len(c.shards[0].m) != 1 {
		t.Errorf("%d entries, want 1", len(c.shards[0].m))
	}
}
