package tokencache

import (
	"strconv"
	"testing"
	"time"
)

func TestEntryExpires(t *testing.T) {
	c := New[int](10)
	now := time.Unix(1000, 0)
	c.Put("tok", now.Add(time.Minute).UnixNano(), 1, now)
	if _, ok := c.Get("tok", now.Add(time.Minute-1)); !ok {
		t.Error("miss before exp")
	}
	if _, ok := c.Get("tok", now.Add(time.Minute)); ok {
		t.Error("hit at exp")
	}
	// Never stored when already expired.
	c.Put("old", now.UnixNano(), 2, now)
	if _, ok := c.Get("old", now.Add(-time.Hour)); ok {
		t.Error("an expired entry was stored")
	}
}

func TestCollision(t *testing.T) {
	c := New[string](10)
	now := time.Unix(1000, 0)
	exp := now.Add(time.Hour).UnixNano()
	c.put(7, "a", exp, "a", now)
	if _, ok := c.get(7, "b", now); ok {
		t.Error("a different token with the same hash was a hit")
	}
	c.put(7, "b", exp, "b", now)
	if e, ok := c.get(7, "b", now); !ok || e != "b" {
		t.Error("the newer token does not replace the older under one hash")
	}
	if _, ok := c.get(7, "a", now); ok {
		t.Error("the replaced token is still a hit")
	}
}

func TestBounded(t *testing.T) {
	for _, size := range []int{1, 10, 100, 1000, 10000} {
		c := New[int](size)
		now := time.Unix(1000, 0)
		for i := range size * 5 {
			c.Put("token-"+strconv.Itoa(i), now.Add(time.Hour).UnixNano(), i, now)
		}
		n := c.Len()
		if limit := c.per * len(c.shards); n > limit || limit > size+len(c.shards) {
			t.Errorf("size %d: %d entries, limit %d", size, n, limit)
		}
		if n < size/2 {
			t.Errorf("size %d: only %d entries kept", size, n)
		}
	}
}

func TestEvictsExpiredFirst(t *testing.T) {
	c := New[int](1) // room for one entry
	now := time.Unix(1000, 0)
	c.Put("short", now.Add(time.Second).UnixNano(), 1, now)
	later := now.Add(2 * time.Second)
	c.Put("long", later.Add(time.Hour).UnixNano(), 2, later)
	if _, ok := c.Get("long", later); !ok {
		t.Error("the new entry is missing")
	}
	if n := c.Len(); n != 1 {
		t.Errorf("%d entries, want 1", n)
	}
}

func TestClear(t *testing.T) {
	c := New[int](10)
	now := time.Unix(1000, 0)
	c.Put("tok", now.Add(time.Hour).UnixNano(), 1, now)
	c.Clear()
	if _, ok := c.Get("tok", now); ok || c.Len() != 0 {
		t.Error("an entry survived Clear")
	}
}
