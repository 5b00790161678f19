package resource

import (
	"strconv"
	"testing"
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
