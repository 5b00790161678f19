package resource

import (
	"strings"
	"testing"
	"time"
)

const testPoll = 50 * time.Millisecond

func TestRevokedTokenRefused(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.RevocationPoll = testPoll })
	c := iss.claims("api")
	tok, other := iss.mint(c), iss.token("api")
	for _, tk := range []string{tok, other} {
		if w := e.do("GET", "/records/1", tk); w.Code != 200 { // and now cached
			t.Fatalf("before revocation: status %d", w.Code)
		}
	}
	eventually(t, 2*time.Second, "a first poll", func() bool { return iss.feedFetches.Load() > 0 })

	iss.revoke(c.JTI, c.ExpiresAt)
	start := time.Now()
	eventually(t, testPoll+time.Second, "the revoked token refused", func() bool {
		return e.do("GET", "/records/1", tok).Code == 401
	})
	t.Logf("refused %s after the revocation (poll interval %s)", time.Since(start).Round(time.Millisecond), testPoll)
	w := e.do("GET", "/records/1", tok)
	want := `Bearer realm="` + iss.URL() + `", error="invalid_token", error_description="token revoked"`
	if got := w.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
	}
	if r := e.lastReason(); r != ReasonRevoked {
		t.Errorf("Observe reason %q, want %q", r, ReasonRevoked)
	}
	if w := e.do("GET", "/records/1", other); w.Code != 200 {
		t.Errorf("another token: status %d, want 200", w.Code)
	}
}

func TestRevocationFeedPagesAndCursor(t *testing.T) {
	iss := newIssuer(t)
	var toks []string
	for range 5 {
		c := iss.claims("api")
		toks = append(toks, iss.mint(c))
		iss.revoke(c.JTI, c.ExpiresAt)
	}
	e := newEnv(t, iss, func(c *Config) { c.RevocationPoll = testPoll })
	// Five entries in pages of two: all read in the first poll.
	eventually(t, 2*time.Second, "every revoked token refused", func() bool {
		for _, tok := range toks {
			if e.do("GET", "/records/1", tok).Code != 401 {
				return false
			}
		}
		return true
	})

	// The issuer forgets our cursor (say, it was restored from a backup):
	// the feed refuses it, and the guard reads it again from the start.
	c := iss.claims("api")
	tok := iss.mint(c)
	iss.set(func(iss *issuer) { iss.revoked = []revocation{{c.JTI, c.ExpiresAt.Unix()}} })
	eventually(t, 2*time.Second, "the token revoked after the reset refused", func() bool {
		return e.do("GET", "/records/1", tok).Code == 401
	})
	if !strings.Contains(e.logs.String(), "refused our cursor") {
		t.Errorf("no log line about the refused cursor; logs:\n%s", e.logs)
	}
	for _, tok := range toks {
		if w := e.do("GET", "/records/1", tok); w.Code != 401 {
			t.Errorf("a token revoked before the reset: status %d, want 401", w.Code)
		}
	}
}

func TestRevocationFeedClientCredentials(t *testing.T) {
	iss := newIssuer(t)
	iss.feedClient = "gateway:s3cret/+&="
	c := iss.claims("api")
	tok := iss.mint(c)
	iss.revoke(c.JTI, c.ExpiresAt)

	wrong := newEnv(t, iss, func(c *Config) { c.RevocationPoll, c.ClientID, c.ClientSecret = testPoll, "gateway", "wrong" })
	eventually(t, 2*time.Second, "a log line about the refused poll", func() bool {
		return strings.Contains(wrong.logs.String(), "cannot poll the revocation feed")
	})
	if !strings.Contains(wrong.logs.String(), "401") {
		t.Errorf("the log does not give the status; logs:\n%s", wrong.logs)
	}

	right := newEnv(t, iss, func(c *Config) { c.RevocationPoll, c.ClientID, c.ClientSecret = testPoll, "gateway", "s3cret/+&=" })
	eventually(t, 2*time.Second, "the revoked token refused", func() bool {
		return right.do("GET", "/records/1", tok).Code == 401
	})
}

func TestRevocationFeedNotAdvertised(t *testing.T) {
	iss := newIssuer(t)
	iss.noFeed = true
	e := newEnv(t, iss, func(c *Config) { c.RevocationPoll = testPoll })
	eventually(t, 2*time.Second, "a log line saying polling is disabled", func() bool {
		return strings.Contains(e.logs.String(), "revocation polling disabled")
	})
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Errorf("status %d, want 200", w.Code)
	}
}

func TestRevocationPollingOff(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil) // RevocationPoll -1
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	time.Sleep(3 * testPoll)
	if n := iss.feedFetches.Load(); n != 0 {
		t.Errorf("%d feed fetches with polling off", n)
	}
}

func TestCloseStopsPolling(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.RevocationPoll = 10 * time.Millisecond })
	eventually(t, 2*time.Second, "a few polls", func() bool { return iss.feedFetches.Load() >= 3 })
	e.guard.Close()
	n := iss.feedFetches.Load()
	time.Sleep(50 * time.Millisecond)
	if got := iss.feedFetches.Load(); got != n {
		t.Errorf("%d polls after Close", got-n)
	}
	e.guard.Close() // twice is fine
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Errorf("after Close: status %d, want 200 (enforcement goes on)", w.Code)
	}
}

func TestRevocationsPruned(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	g := e.guard
	now := iss.clock.Now()
	g.addRevocations([]revokedEntry{
		{"soon", now.Add(time.Minute).Unix()},
		{"later", now.Add(time.Hour).Unix()},
		{"gone", now.Add(-time.Hour).Unix()}, // its token expired long ago
		{"", now.Add(time.Hour).Unix()},
	})
	has := func(jti string) bool { return g.isRevoked(jti) }
	if !has("soon") || !has("later") || has("gone") || has("") {
		t.Fatalf("after adding: soon %v later %v gone %v empty %v", has("soon"), has("later"), has("gone"), has(""))
	}
	// Kept while the token could still pass with the leeway, then dropped.
	iss.clock.Add(time.Minute + DefaultLeeway)
	g.addRevocations(nil)
	if !has("soon") {
		t.Error("dropped within the leeway")
	}
	iss.clock.Add(pruneEvery)
	g.addRevocations(nil)
	if has("soon") || !has("later") {
		t.Errorf("after pruning: soon %v later %v, want false true", has("soon"), has("later"))
	}
}
