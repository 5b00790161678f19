package resource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/token"
)

func TestKeyRotation(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	ghost := newECKey(t, "ghost")
	ghostToken := func() string { return signRaw(t, ghost, ecHeader(ghost), wireOf(iss.claims("api"))) }
	want := func(step string, tok string, code int, fetches int32) {
		t.Helper()
		if w := e.do("GET", "/records/1", tok); w.Code != code {
			t.Errorf("%s: status %d, want %d; body %s", step, w.Code, code, w.Body)
		}
		if got := iss.jwksFetches.Load(); got != fetches {
			t.Errorf("%s: %d JWKS fetches in all, want %d", step, got, fetches)
		}
	}

	want("first token", iss.token("api"), 200, 1)
	want("second token, same key", iss.token("api"), 200, 1)
	if iss.metaFetches.Load() != 1 {
		t.Errorf("%d metadata fetches, want 1", iss.metaFetches.Load())
	}

	// An immediate rotation: the new kid is fetched once.
	iss.clock.Add(time.Second) // so the new key is the newest active one
	if _, err := iss.ring.Rotate(context.Background(), "test", true); err != nil {
		t.Fatal(err)
	}
	iss.clock.Add(DefaultJWKSMinRefresh)
	want("new key", iss.token("api"), 200, 2)
	want("new key again", iss.token("api"), 200, 2)

	// Unknown kids: no refetch within JWKSMinRefresh of the last one...
	for i := range 3 {
		want("unknown kid "+string(rune('a'+i)), ghostToken(), 401, 2)
	}
	// ... then one, however many requests ask for it at once.
	iss.clock.Add(DefaultJWKSMinRefresh)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if w := e.do("GET", "/records/1", ghostToken()); w.Code != 401 {
				t.Errorf("unknown kid: status %d, want 401", w.Code)
			}
		})
	}
	wg.Wait()
	if got := iss.jwksFetches.Load(); got != 3 {
		t.Errorf("20 concurrent unknown kids: %d JWKS fetches in all, want 3", got)
	}
	want("unknown kid after the refetch", ghostToken(), 401, 3)
	if w := e.do("GET", "/records/1", ghostToken()); !strings.Contains(decodeError(t, w).Description, "unknown key") {
		t.Errorf("unknown kid: body %s", w.Body)
	}
}

// After an immediate rotation at the issuer (gatehouse keys rotate --now),
// tokens from the new key are accepted within seconds: the guard refetches
// the JWKS for an unknown kid once 5 s have passed since its last fetch. (It
// used to wait 30 s.)
func TestImmediateRotationAcceptedWithinSeconds(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("first token: status %d", w.Code)
	}
	iss.clock.Add(time.Second)
	nk, err := iss.ring.Rotate(context.Background(), "test", true)
	if err != nil {
		t.Fatal(err)
	}
	newTok := iss.token("api")
	if got := kidOf(t, newTok); got != nk.ID {
		t.Fatalf("issuer signs with %s, want the new key %s", got, nk.ID)
	}
	// Within the interval of the last fetch: refused, and no fetch.
	if w := e.do("GET", "/records/1", newTok); w.Code != 401 {
		t.Errorf("1s after the last JWKS fetch: status %d, want 401", w.Code)
	}
	if got := iss.jwksFetches.Load(); got != 1 {
		t.Errorf("1s after the last JWKS fetch: %d JWKS fetches, want 1", got)
	}
	// 5 s after the last fetch, the first such token fetches the JWKS again.
	iss.clock.Add(4 * time.Second)
	if w := e.do("GET", "/records/1", newTok); w.Code != 200 {
		t.Errorf("5s after the last JWKS fetch: status %d, want 200; body %s", w.Code, w.Body)
	}
	if got := iss.jwksFetches.Load(); got != 2 {
		t.Errorf("%d JWKS fetches, want 2", got)
	}
}

// Concurrent requests with tokens from a key the guard has not seen share
// one JWKS fetch and all get its result, while requests with a known key
// never wait for it.
func TestUnknownKidRequestsShareOneFetch(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.CacheSize = -1 }) // every request verifies
	oldTok := iss.token("api")
	if w := e.do("GET", "/records/1", oldTok); w.Code != 200 {
		t.Fatalf("first token: status %d", w.Code)
	}
	iss.clock.Add(time.Second)
	if _, err := iss.ring.Rotate(context.Background(), "test", true); err != nil {
		t.Fatal(err)
	}
	iss.clock.Add(5 * time.Second)
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // before the issuer closes, even if the test stops early
	iss.set(func(iss *issuer) { iss.jwksGate = gate })

	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		tok := iss.token("api") // each its own token, all from the new key
		wg.Go(func() { codes <- e.do("GET", "/records/1", tok).Code })
	}
	eventually(t, 5*time.Second, "a JWKS fetch under way", func() bool { return iss.jwksFetches.Load() == 2 })
	// The fetch hangs at the issuer: a token from the known key is still
	// served at once.
	done := make(chan int, 1)
	go func() { done <- e.do("GET", "/records/1", oldTok).Code }()
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("known kid during the fetch: status %d, want 200", code)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("known kid during the fetch: still waiting after 5s")
	}
	time.Sleep(20 * time.Millisecond) // let the other requests line up behind the fetch
	release()
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("new kid: status %d, want 200", code)
		}
	}
	if got := iss.jwksFetches.Load(); got != 2 {
		t.Errorf("%d concurrent requests with a new kid: %d JWKS fetches in all, want 2", n, got)
	}
}

// Tokens with made-up kids, however many and however fast, make the guard
// fetch the JWKS at most once per JWKSMinRefresh.
func TestMadeUpKidsCannotHammerTheIssuer(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("first token: status %d", w.Code)
	}
	const span = time.Minute
	for elapsed := time.Duration(0); elapsed < span; elapsed += 100 * time.Millisecond {
		iss.clock.Add(100 * time.Millisecond)
		var wg sync.WaitGroup
		for range 4 {
			ghost := newECKey(t, rand.Text())
			tok := signRaw(t, ghost, ecHeader(ghost), wireOf(iss.claims("api")))
			wg.Go(func() {
				if w := e.do("GET", "/records/1", tok); w.Code != 401 {
					t.Errorf("made-up kid: status %d, want 401", w.Code)
				}
			})
		}
		wg.Wait()
	}
	limit := int32(1 + span/DefaultJWKSMinRefresh)
	if got := iss.jwksFetches.Load(); got > limit {
		t.Errorf("%s of made-up kids: %d JWKS fetches, want at most %d", span, got, limit)
	}
}

// With the shortest lead time the issuer allows, a guard with default
// settings learns each scheduled key from the JWKS (following its max-age)
// before the key signs: its first tokens are accepted even if the JWKS is
// unreachable from just before then.
func TestScheduledRotationLearnedBeforeItSigns(t *testing.T) {
	lead := token.MinLeadTime
	iss := newIssuerKeys(t, token.Config{LeadTime: lead, RotationPeriod: 3 * lead, MaxTokenTTL: time.Hour})
	e := newEnv(t, iss, func(c *Config) { c.CacheSize = -1 })
	ctx := context.Background()
	const step = time.Second
	start := iss.clock.Now()
	rotations := 0
	for iss.clock.Now().Before(start.Add(10 * lead)) {
		iss.clock.Add(step)
		now := iss.clock.Now()
		if now.Sub(start)%time.Minute == 0 { // the server maintains its keys once a minute
			if err := iss.ring.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// The JWKS is unreachable from 2 s before a key starts signing
		// until 10 s after: the guard must know the key by then.
		down := false
		for _, k := range iss.ring.Keys() {
			if now.After(k.ActiveAt.Add(-3*time.Second)) && now.Before(k.ActiveAt.Add(10*time.Second)) && k.ActiveAt.After(start) {
				down = true
			}
			if k.ActiveAt.Equal(now) && k.ActiveAt.After(start) {
				rotations++
			}
		}
		iss.set(func(iss *issuer) { iss.jwksDown = down })
		if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
			t.Fatalf("%s after start: status %d, want 200; body %s", now.Sub(start), w.Code, w.Body)
		}
		eventually(t, 5*time.Second, "the background refresh done", func() bool { return !e.guard.bgFetch.Load() })
	}
	if rotations < 3 {
		t.Errorf("%d scheduled rotations, want at least 3", rotations)
	}
}

func TestKeyPublishedAheadIsPrefetched(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	// The issuer publishes its next key an hour before it signs (lead
	// time); the JWKS's max-age (300 s in this fake) makes the guard
	// refetch it in the background, without holding up a request.
	if _, err := iss.ring.Rotate(context.Background(), "test", false); err != nil {
		t.Fatal(err)
	}
	iss.clock.Add(301 * time.Second)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("after max-age: status %d", w.Code)
	}
	eventually(t, 5*time.Second, "background JWKS refetch", func() bool { return iss.jwksFetches.Load() == 2 })
	iss.set(func(iss *issuer) { iss.jwksDown, iss.metaDown = true, true })
	iss.clock.Add(time.Hour) // the new key signs now
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Errorf("token from the prefetched key while the JWKS is down: status %d; body %s", w.Code, w.Body)
	}
}

func TestKeysRevalidated(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, nil)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	// Past max-age, an unchanged JWKS is revalidated with its ETag (304)
	// and used for another max-age.
	iss.clock.Add(301 * time.Second)
	e.do("GET", "/records/1", iss.token("api"))
	eventually(t, 5*time.Second, "a 304 revalidation", func() bool { return iss.notModified.Load() == 1 })
	eventually(t, 5*time.Second, "the background refresh done", func() bool { return !e.guard.bgFetch.Load() })
	for range 3 {
		if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
			t.Fatalf("after the revalidation: status %d", w.Code)
		}
	}
	if got := iss.jwksFetches.Load(); got != 2 {
		t.Errorf("%d JWKS fetches, want 2", got)
	}
}

func TestJWKSOutageKeepsCachedKeys(t *testing.T) {
	iss := newIssuer(t)
	e := newEnv(t, iss, func(c *Config) { c.CacheSize = -1 })
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	iss.set(func(iss *issuer) { iss.jwksDown = true })
	iss.clock.Add(10 * time.Minute) // past max-age and JWKSMinRefresh
	for i := range 3 {
		if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
			t.Fatalf("request %d during the outage: status %d; body %s", i, w.Code, w.Body)
		}
	}
	eventually(t, 5*time.Second, "a log line about the failed refresh", func() bool {
		return strings.Contains(e.logs.String(), "keeping the cached ones")
	})

	// A new key cannot be learned during the outage: its tokens are refused.
	iss.clock.Add(time.Second) // so the new key is the newest active one
	if _, err := iss.ring.Rotate(context.Background(), "test", true); err != nil {
		t.Fatal(err)
	}
	iss.clock.Add(DefaultJWKSMinRefresh)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 401 {
		t.Errorf("new key during the outage: status %d, want 401", w.Code)
	}
	// Back up: learned on the next allowed refetch.
	iss.set(func(iss *issuer) { iss.jwksDown = false })
	iss.clock.Add(DefaultJWKSMinRefresh)
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 200 {
		t.Errorf("new key after the outage: status %d, want 200; body %s", w.Code, w.Body)
	}
}

func TestNoKeysYet(t *testing.T) {
	iss := newIssuer(t)
	iss.set(func(iss *issuer) { iss.jwksDown = true })
	e := newEnv(t, iss, nil)
	tok := iss.token("api")
	w := e.do("GET", "/records/1", tok)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("no keys: %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if b := decodeError(t, w); b.Error != "temporarily_unavailable" {
		t.Errorf("error %q, want temporarily_unavailable", b.Error)
	}
	if r := e.lastReason(); r != ReasonUnavailable {
		t.Errorf("Observe reason %q, want %q", r, ReasonUnavailable)
	}
	if !strings.Contains(e.logs.String(), "cannot fetch the issuer's signing keys") {
		t.Errorf("no log line about the failure; logs:\n%s", e.logs)
	}
	// Without keys, retried at most once a second.
	e.do("GET", "/records/1", tok)
	if got := iss.jwksFetches.Load(); got != 1 {
		t.Errorf("%d JWKS fetches, want 1", got)
	}
	iss.set(func(iss *issuer) { iss.jwksDown = false })
	iss.clock.Add(time.Second)
	if w := e.do("GET", "/records/1", tok); w.Code != 200 {
		t.Errorf("after the issuer came back: status %d, want 200", w.Code)
	}
}

func TestDiscoveryChecks(t *testing.T) {
	iss := newIssuer(t)
	// Configured with another spelling of the issuer: the metadata's
	// "issuer" must match exactly (RFC 8414 §3.3).
	e := newEnv(t, iss, func(c *Config) { c.Issuer = iss.URL() + "/" })
	if w := e.do("GET", "/records/1", iss.token("api")); w.Code != 503 {
		t.Errorf("status %d, want 503", w.Code)
	}
	if !strings.Contains(e.logs.String(), "is for issuer") {
		t.Errorf("no log line about the issuer mismatch; logs:\n%s", e.logs)
	}
}

func TestWithdrawnKeyDropsCachedTokens(t *testing.T) {
	iss := newIssuer(t)
	ec := newECKey(t, "test-ec")
	iss.extra = append(iss.extra, ec)
	e := newEnv(t, iss, nil)
	tok := signRaw(t, ec, ecHeader(ec), wireOf(iss.claims("api")))
	if w := e.do("GET", "/records/1", tok); w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	iss.set(func(iss *issuer) { iss.extra = nil })
	iss.clock.Add(301 * time.Second)
	e.do("GET", "/records/1", iss.token("api")) // triggers the background refresh
	eventually(t, 5*time.Second, "background JWKS refetch", func() bool { return iss.jwksFetches.Load() == 2 })
	eventually(t, 5*time.Second, "the withdrawn key's token refused", func() bool {
		return e.do("GET", "/records/1", tok).Code == 401
	})
}

func TestParseJWK(t *testing.T) {
	tests := []struct {
		name, jwk, want string // want: "" or a substring of the error
	}{
		{"oct", `{"kty":"oct","kid":"h","k":"c2VjcmV0"}`, "unsupported key type"},
		{"no kid", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, "no kid"},
		{"enc use", `{"kty":"OKP","crv":"Ed25519","kid":"e","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, "not sig"},
		{"ed25519 with wrong alg", `{"kty":"OKP","crv":"Ed25519","kid":"e","alg":"ES256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, "alg"},
		{"ed25519", `{"kty":"OKP","crv":"Ed25519","kid":"e","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, ""},
		{"small RSA", jwkJSON(t, rsa1024(t), "r", ""), "at least 2048"},
		{"EC P-384", jwkJSON(t, p384(t), "p", ""), "not on P-256"},
		{"EC with RS256", jwkJSON(t, newECKey(t, "x").priv.Public(), "x", RS256), "alg"},
		{"EC private key", jwkJSON(t, newECKey(t, "x").priv, "x", ES256), ""},
		{"garbage", `{"kty":"EC"}`, "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseJWK([]byte(tt.jwk))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("parseJWK: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("parseJWK: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func jwkJSON(t *testing.T, key any, kid, alg string) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rsa1024(t *testing.T) *rsa.PublicKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func p384(t *testing.T) *ecdsa.PublicKey {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestKeysMaxAge(t *testing.T) {
	tests := []struct {
		cc   string
		want time.Duration
	}{
		{"", 5 * time.Minute},
		{"public, max-age=60", time.Minute},
		{"max-age=1", 30 * time.Second}, // floor: JWKSMinRefresh
		{"Max-Age=99999", time.Hour},
		{"max-age=junk", 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := keysMaxAge(tt.cc, 30*time.Second); got != tt.want {
			t.Errorf("keysMaxAge(%q) = %s, want %s", tt.cc, got, tt.want)
		}
	}
}

// kidOf returns the kid in a token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	b, err := b64.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
