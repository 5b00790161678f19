package resource

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/token"
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
	iss.set(func(iss *issuer) { iss.revoked = []revocation{{JTI: c.JTI, Exp: c.ExpiresAt.Unix()}} })
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
		{JTI: "soon", Exp: now.Add(time.Minute).Unix()},
		{JTI: "later", Exp: now.Add(time.Hour).Unix()},
		{JTI: "gone", Exp: now.Add(-time.Hour).Unix()}, // its token expired long ago
		{JTI: "", Exp: now.Add(time.Hour).Unix()},
	})
	has := func(jti string) bool { return g.isRevoked(&entry{claims: &Claims{JTI: jti, ClientID: "client-1"}}) }
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

// TestClientRevocationRefused: a feed entry revoking a client's tokens
// issued before iat_before refuses them, cached or not, like a revoked
// jti; the client's later tokens and other clients' tokens pass.
func TestClientRevocationRefused(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.RevocationPoll = testPoll })
	now := iss.clock.Now()
	iatBefore := now.Unix() - 60 // tokens issued over a minute ago
	mintAt := func(client string, iat int64) string {
		c := iss.claims("api")
		c.Subject, c.ClientID, c.IssuedAt = client, client, time.Unix(iat, 0)
		return iss.mint(c)
	}
	revoked := map[string]string{
		"issued an hour before":    mintAt("client-1", iatBefore-3600),
		"issued the second before": mintAt("client-1", iatBefore-1),
	}
	allowed := map[string]string{
		"issued at iat_before": mintAt("client-1", iatBefore),
		"issued now":           mintAt("client-1", now.Unix()),
		"another client's, issued an hour before": mintAt("client-2", iatBefore-3600),
		"a client ID differing in case":           mintAt("Client-1", iatBefore-3600),
	}
	for name, tok := range mergeMaps(revoked, allowed) { // and now cached
		if w := e.do("GET", "/records/1", tok); w.Code != 200 {
			t.Fatalf("%s, before the revocation: status %d", name, w.Code)
		}
	}
	eventually(t, 2*time.Second, "a first poll", func() bool { return iss.feedFetches.Load() > 0 })

	iss.revokeClient("client-1", iatBefore, now.Add(30*24*time.Hour))
	eventually(t, testPoll+time.Second, "the client's tokens refused", func() bool {
		for _, tok := range revoked {
			if e.do("GET", "/records/1", tok).Code != 401 {
				return false
			}
		}
		return true
	})
	for name, tok := range revoked {
		w := e.do("GET", "/records/1", tok)
		want := `Bearer realm="` + iss.URL() + `", error="invalid_token", error_description="token revoked"`
		if got := w.Header().Get("WWW-Authenticate"); w.Code != 401 || got != want {
			t.Errorf("%s: got %d, WWW-Authenticate %s; want 401, %s", name, w.Code, got, want)
		}
		if r := e.lastReason(); r != ReasonRevoked {
			t.Errorf("%s: Observe reason %q, want %q", name, r, ReasonRevoked)
		}
	}
	for name, tok := range allowed {
		if w := e.do("GET", "/records/1", tok); w.Code != 200 {
			t.Errorf("%s: status %d, want 200", name, w.Code)
		}
	}
	// A token verified for the first time after the revocation is refused too.
	if w := e.do("GET", "/records/1", mintAt("client-1", iatBefore-10)); w.Code != 401 {
		t.Errorf("a token of the client first seen after the revocation: status %d, want 401", w.Code)
	}
}

func mergeMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestClientRevocationEntries: how the snapshot takes clients' entries:
// the greater iat_before and exp win, re-sent entries change nothing,
// malformed ones are ignored, and expired ones are pruned like revoked
// jtis. Without client entries the snapshot has no client map (the check
// of a token is then one lookup).
func TestClientRevocationEntries(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	g := e.guard
	now := iss.clock.Now()
	revoked := func(client string, iat int64) bool {
		return g.isRevoked(&entry{iat: iat, claims: &Claims{JTI: "not-revoked", ClientID: client}})
	}
	g.addRevocations([]revokedEntry{{JTI: "j", Exp: now.Add(time.Hour).Unix()}})
	if r := g.revoked.Load(); r.clients != nil {
		t.Errorf("a snapshot with no client entries has a client map: %v", r.clients)
	}

	t0 := now.Unix()
	g.addRevocations([]revokedEntry{
		{ClientID: "a", IATBefore: t0 - 100, Exp: now.Add(time.Hour).Unix()},
		{ClientID: "a", IATBefore: t0 - 200, Exp: now.Add(2 * time.Hour).Unix()}, // older T, later exp
		{ClientID: "b", IATBefore: t0, Exp: now.Add(time.Minute).Unix()},
		{ClientID: "expired", IATBefore: t0, Exp: now.Add(-time.Hour).Unix()},
		{ClientID: "no-iat-before", Exp: now.Add(time.Hour).Unix()},
		{IATBefore: t0, Exp: now.Add(time.Hour).Unix()},                          // no client, no jti
		{JTI: "k", ClientID: "c", IATBefore: t0, Exp: now.Add(time.Hour).Unix()}, // a jti entry
	})
	for _, tc := range []struct {
		client string
		iat    int64
		want   bool
	}{
		{"a", t0 - 101, true}, {"a", t0 - 100, false},
		{"b", t0 - 1, true}, {"b", t0, false},
		{"expired", t0 - 1, false}, {"no-iat-before", 0, false}, {"", t0 - 1, false}, {"c", t0 - 1, false},
	} {
		if got := revoked(tc.client, tc.iat); got != tc.want {
			t.Errorf("client %q, iat %d: revoked %v, want %v", tc.client, tc.iat, got, tc.want)
		}
	}
	if got, want := g.revoked.Load().clients["a"], (clientRevocation{iatBefore: t0 - 100, exp: now.Add(2 * time.Hour).Unix()}); got != want {
		t.Errorf("client a: got %+v, want the greater iat_before and exp %+v", got, want)
	}

	// Revoking again moves iat_before forward; an entry re-sent as it was
	// leaves the snapshot as it is.
	g.addRevocations([]revokedEntry{{ClientID: "a", IATBefore: t0 - 50, Exp: now.Add(time.Hour).Unix()}})
	if !revoked("a", t0-51) || revoked("a", t0-50) {
		t.Errorf("after revoking a again: iat t0-51 %v, t0-50 %v; want true, false", revoked("a", t0-51), revoked("a", t0-50))
	}
	before := g.revoked.Load()
	g.addRevocations([]revokedEntry{{ClientID: "a", IATBefore: t0 - 50, Exp: now.Add(time.Hour).Unix()}})
	if g.revoked.Load() != before {
		t.Error("a re-sent client entry replaced the snapshot")
	}

	// Kept while its tokens could still pass with the leeway, then dropped.
	iss.clock.Add(time.Minute + DefaultLeeway)
	g.addRevocations(nil)
	if !revoked("b", t0-1) {
		t.Error("client b dropped within the leeway")
	}
	iss.clock.Add(pruneEvery)
	g.addRevocations(nil)
	if revoked("b", t0-1) || !revoked("a", t0-51) {
		t.Errorf("after pruning: b %v, a %v; want false, true", revoked("b", t0-1), revoked("a", t0-51))
	}
}

// TestFeedEntriesOfBothKinds: a page with both kinds of entry, and fields
// the guard does not know, parses; each kind is honoured.
func TestFeedEntriesOfBothKinds(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	now := iss.clock.Now()
	c1 := iss.claims("api")
	c2 := iss.claims("api")
	c2.Subject, c2.ClientID = "client-2", "client-2"
	c2.IssuedAt = now.Add(-time.Minute)
	body := fmt.Sprintf(`{"revoked":[{"jti":%q,"exp":%d,"future":1},{"client_id":"client-2","iat_before":%d,"exp":%d,"reason":"leak"}],"cursor":"x","more":false,"next":{}}`,
		c1.JTI, c1.ExpiresAt.Unix(), now.Unix(), now.Add(time.Hour).Unix())
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	defer feed.Close()
	if _, err := e.guard.pollOnce(t.Context(), feed.URL, ""); err != nil {
		t.Fatalf("pollOnce: %v", err)
	}
	for name, c := range map[string]token.Claims{"the revoked jti": c1, "the revoked client's token": c2} {
		if w := e.do("GET", "/records/1", iss.mint(c)); w.Code != 401 {
			t.Errorf("%s: status %d, want 401", name, w.Code)
		}
	}
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Errorf("another token: status %d, want 200", w.Code)
	}
}
