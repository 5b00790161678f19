package token

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jws"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// kidOf returns the kid in a token's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	var h struct{ Kid string }
	decodePart(t, tok, 0, &h)
	return h.Kid
}

// signKid signs test claims at the keyring's current time and returns the
// signing key's ID and the token.
func signKid(t *testing.T, k *Keyring) (string, string) {
	t.Helper()
	c := testClaims(k.cfg.Now())
	tok, err := k.Sign(&c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return kidOf(t, tok), tok
}

// jwksKids returns the key IDs in the keyring's JWKS.
func jwksKids(t *testing.T, k *Keyring) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var kids []string
	for _, key := range set.Keys {
		if key.Use != "sig" || key.Alg == "" {
			t.Errorf("JWK %s: got use %q alg %q, want sig and an alg", key.Kid, key.Use, key.Alg)
		}
		kids = append(kids, key.Kid)
	}
	return kids
}

func states(k *Keyring) []string {
	var s []string
	for _, ki := range k.Keys() {
		s = append(s, ki.ID+":"+ki.State)
	}
	return s
}

func actions(evs []store.AuditEvent) []string {
	var s []string
	for _, ev := range evs {
		s = append(s, ev.Actor+" "+ev.Action+" "+ev.Target)
	}
	return s
}

func TestInitCreatesOneKey(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	const n = 4
	rings := make([]*Keyring, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { rings[i] = newTestKeyring(t, st, ES256, clk, nil) })
	}
	wg.Wait()

	keys, evs := st.snapshot()
	if len(keys) != 1 {
		t.Fatalf("got %d keys after %d concurrent Inits, want 1", len(keys), n)
	}
	if !keys[0].ActiveAt.Equal(clk.Now()) {
		t.Errorf("got first key ActiveAt %v, want now %v", keys[0].ActiveAt, clk.Now())
	}
	if want := []string{"system key.create " + keys[0].ID}; !slices.Equal(actions(evs), want) {
		t.Errorf("got audit %q, want %q", actions(evs), want)
	}
	for i, k := range rings {
		if kid, _ := signKid(t, k); kid != keys[0].ID {
			t.Errorf("keyring %d: got kid %s, want %s", i, kid, keys[0].ID)
		}
	}
	// Init again with keys present adds nothing.
	if err := rings[0].Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys, _ := st.snapshot(); len(keys) != 1 {
		t.Errorf("got %d keys after a second Init, want 1", len(keys))
	}
}

func TestWrongMasterKey(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	newTestKeyring(t, st, ES256, clk, nil)

	k, err := NewKeyring(st, Config{MasterKey: testMaster(t, testSecret+" but different"), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	err = k.Init(context.Background())
	if !errors.Is(err, ErrMasterKeyMismatch) {
		t.Fatalf("got %v, want ErrMasterKeyMismatch", err)
	}
	if !strings.Contains(err.Error(), "GATEHOUSE_SECRET") || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("got %q, want it to say GATEHOUSE_SECRET does not match", err)
	}
	if keys, _ := st.snapshot(); len(keys) != 1 {
		t.Errorf("got %d keys, want the failed Init to add none", len(keys))
	}
}

func TestReloadSeesOtherProcesses(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	a := newTestKeyring(t, st, ES256, clk, nil)
	b := newTestKeyring(t, st, EdDSA, clk, nil) // existing keys win over b's algorithm

	first, _ := signKid(t, a)
	if got, _ := signKid(t, b); got != first {
		t.Fatalf("got b signing with %s, want %s", got, first)
	}
	nk, err := a.Rotate(context.Background(), "cli:root@host", false)
	if err != nil {
		t.Fatal(err)
	}
	if nk.Algorithm != ES256 {
		t.Errorf("got new key alg %s, want a's ES256", nk.Algorithm)
	}
	if got := jwksKids(t, b); slices.Contains(got, nk.ID) {
		t.Errorf("b published %s before Reload", nk.ID)
	}
	if err := b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*Keyring{"a": a, "b": b} {
		if got, want := jwksKids(t, k), []string{first, nk.ID}; !slices.Equal(got, want) {
			t.Errorf("%s: got JWKS %v, want %v", name, got, want)
		}
	}
	// Both switch at ActiveAt on their own, with no further Reload.
	clk.Set(nk.ActiveAt.Add(-time.Second))
	for name, k := range map[string]*Keyring{"a": a, "b": b} {
		if got, _ := signKid(t, k); got != first {
			t.Errorf("%s: 1s before ActiveAt: got kid %s, want %s", name, got, first)
		}
	}
	clk.Set(nk.ActiveAt)
	for name, k := range map[string]*Keyring{"a": a, "b": b} {
		if got, _ := signKid(t, k); got != nk.ID {
			t.Errorf("%s: at ActiveAt: got kid %s, want %s", name, got, nk.ID)
		}
	}
	_, evs := st.snapshot()
	if got := actions(evs)[1]; got != "cli:root@host key.rotate "+nk.ID {
		t.Errorf("got audit %q, want the rotation by cli:root@host", got)
	}
}

func TestRotationLifecycle(t *testing.T) {
	const (
		lead   = time.Hour
		maxTTL = 12 * time.Hour
	)
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	st := &fakeStore{}
	k := newTestKeyring(t, st, ES256, clk, func(c *Config) { c.LeadTime, c.MaxTokenTTL = lead, maxTTL })
	old := k.Keys()[0].ID

	clk.Add(10 * time.Minute)
	nk, err := k.Rotate(ctx, "console:alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(lead); !nk.ActiveAt.Equal(want) {
		t.Errorf("got ActiveAt %v, want now+lead %v", nk.ActiveAt, want)
	}
	type step struct {
		at     time.Time
		signer string
		jwks   []string
		states []string
	}
	retire := nk.ActiveAt
	// A token signed by the old key one second before it retires, living the
	// maximum lifetime.
	clk.Set(retire.Add(-time.Second))
	lastOld := testClaims(clk.Now())
	lastOld.ExpiresAt = clk.Now().Add(maxTTL)
	lastOldTok, err := k.Sign(&lastOld)
	if err != nil || kidOf(t, lastOldTok) != old {
		t.Fatalf("last token by the old key: kid %s, %v", kidOf(t, lastOldTok), err)
	}
	// One living longer than MaxTokenTTL (a misconfiguration) stops
	// verifying when the key leaves the JWKS.
	longLived := lastOld
	longLived.ExpiresAt = clk.Now().Add(10 * maxTTL)
	longLivedTok, err := k.Sign(&longLived)
	if err != nil {
		t.Fatal(err)
	}

	steps := []step{
		{retire.Add(-time.Minute), old, []string{old, nk.ID}, []string{old + ":active", nk.ID + ":next"}},
		{retire, nk.ID, []string{old, nk.ID}, []string{old + ":retired", nk.ID + ":active"}},
		{retire.Add(maxTTL - time.Second), nk.ID, []string{old, nk.ID}, []string{old + ":retired", nk.ID + ":active"}},
		{retire.Add(maxTTL), nk.ID, []string{nk.ID}, []string{old + ":expired", nk.ID + ":active"}},
	}
	for _, s := range steps {
		clk.Set(s.at)
		name := s.at.Sub(start).String()
		if got, tok := signKid(t, k); got != s.signer {
			t.Errorf("%s: got signer %s, want %s", name, got, s.signer)
		} else if _, err := k.Verify(tok, s.at); err != nil {
			t.Errorf("%s: fresh token: %v", name, err)
		}
		if got := jwksKids(t, k); !slices.Equal(got, s.jwks) {
			t.Errorf("%s: got JWKS %v, want %v", name, got, s.jwks)
		}
		if got := states(k); !slices.Equal(got, s.states) {
			t.Errorf("%s: got states %v, want %v", name, got, s.states)
		}
	}
	// The old key's last token verifies until it expires.
	for _, at := range []time.Time{retire, lastOld.ExpiresAt.Add(-time.Second)} {
		if _, err := k.Verify(lastOldTok, at); err != nil {
			t.Errorf("old key's last token at %v: got %v, want valid", at, err)
		}
	}
	if _, err := k.Verify(lastOldTok, lastOld.ExpiresAt.Add(jws.DefaultLeeway)); err == nil {
		t.Errorf("old key's last token at its exp plus the leeway: got valid, want rejected")
	}
	if _, err := k.Verify(longLivedTok, retire.Add(maxTTL-time.Second)); err != nil {
		t.Errorf("long-lived token while its key is published: got %v, want valid", err)
	}
	if _, err := k.Verify(longLivedTok, retire.Add(maxTTL)); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("long-lived token after its key expired: got %v, want unknown key", err)
	}

	// The expired key stays in the store until Maintain deletes it.
	if keys, _ := st.snapshot(); len(keys) != 2 {
		t.Fatalf("got %d stored keys before Maintain, want 2", len(keys))
	}
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	keys, evs := st.snapshot()
	if len(keys) != 1 || keys[0].ID != nk.ID {
		t.Errorf("got stored keys %v after Maintain, want only %s", keys, nk.ID)
	}
	want := []string{"system key.create " + old, "console:alice key.rotate " + nk.ID, "system key.delete " + old}
	if got := actions(evs); !slices.Equal(got, want) {
		t.Errorf("got audit %q, want %q", got, want)
	}
	if got := states(k); !slices.Equal(got, []string{nk.ID + ":active"}) {
		t.Errorf("got states %v after Maintain, want only %s active", got, nk.ID)
	}
	ki := k.Keys()[0]
	if !ki.RetiredAt.IsZero() || !ki.PublishedUntil.IsZero() {
		t.Errorf("got RetiredAt %v PublishedUntil %v for the newest key, want zero", ki.RetiredAt, ki.PublishedUntil)
	}
}

func TestRotateImmediate(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	clk.Add(time.Second)
	nk, err := k.Rotate(context.Background(), "cli:root", true)
	if err != nil {
		t.Fatal(err)
	}
	if !nk.ActiveAt.Equal(clk.Now()) {
		t.Errorf("got ActiveAt %v, want now %v", nk.ActiveAt, clk.Now())
	}
	if got, _ := signKid(t, k); got != nk.ID {
		t.Errorf("got signer %s, want the new key %s at once", got, nk.ID)
	}
	info := k.Keys()
	if want := nk.ActiveAt.Add(12 * time.Hour); !info[0].PublishedUntil.Equal(want) || info[0].State != StateRetired {
		t.Errorf("got old key %+v, want retired and published until %v", info[0], want)
	}
}

func TestAutomaticRotation(t *testing.T) {
	const (
		lead   = time.Hour
		period = 24 * time.Hour
		maxTTL = 2 * time.Hour
	)
	ctx := context.Background()
	clk := newClock()
	start := clk.Now()
	st := &fakeStore{}
	mod := func(c *Config) { c.LeadTime, c.RotationPeriod, c.MaxTokenTTL = lead, period, maxTTL }
	a := newTestKeyring(t, st, ES256, clk, mod)
	b := newTestKeyring(t, st, ES256, clk, mod)

	maintainBoth := func() {
		t.Helper()
		var wg sync.WaitGroup
		for _, k := range []*Keyring{a, b} {
			wg.Go(func() {
				if err := k.Maintain(ctx); err != nil {
					t.Errorf("Maintain: %v", err)
				}
			})
		}
		wg.Wait()
	}
	tests := []struct {
		after    time.Duration // since start
		wantKeys int
	}{
		{0, 1},
		{period - lead - time.Minute, 1},
		{period - lead, 2}, // the successor is published, active at start+period
		{period - lead + time.Minute, 2},
		{period, 2},
		{period + maxTTL - time.Second, 2},
		{period + maxTTL, 1}, // the first key expired and is deleted
		{2*period - lead - time.Minute, 1},
		{2*period - lead, 2},
	}
	for _, tt := range tests {
		clk.Set(start.Add(tt.after))
		maintainBoth()
		keys, _ := st.snapshot()
		if len(keys) != tt.wantKeys {
			t.Errorf("after %v: got %d keys, want %d", tt.after, len(keys), tt.wantKeys)
		}
		if ka, kb := activeKey(t, a).id, activeKey(t, b).id; ka != kb {
			t.Errorf("after %v: a signs with %s, b with %s; want the same", tt.after, ka, kb)
		}
	}
	keys, evs := st.snapshot()
	if want := start.Add(2 * period); !keys[1].ActiveAt.Equal(want) {
		t.Errorf("got second rotation active at %v, want %v", keys[1].ActiveAt, want)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Actor+" "+ev.Action)
	}
	want := []string{"system key.create", "system key.rotate", "system key.delete", "system key.rotate"}
	if !slices.Equal(got, want) {
		t.Errorf("got audit %q, want %q", got, want)
	}
}

// TestScheduledKeyPublishedAhead checks the publish-ahead invariant of
// automatic rotation for the shortest and the default lead time: every key
// Maintain adds is in the JWKS of every process (each running Maintain once
// a minute, as the server does) at least the lead time before it signs, and
// the JWKS max-age served meanwhile is at most a quarter of that, so a
// verifier that fetched the JWKS just before the key appeared, even through
// a shared cache, refetches it before the key signs.
func TestScheduledKeyPublishedAhead(t *testing.T) {
	for _, lead := range []time.Duration{MinLeadTime, DefaultLeadTime} {
		t.Run(lead.String(), func(t *testing.T) {
			period := 4 * lead
			ctx := context.Background()
			clk := newClock()
			st := &fakeStore{}
			mod := func(c *Config) { c.LeadTime, c.RotationPeriod, c.MaxTokenTTL = lead, period, lead }
			rings := []*Keyring{newTestKeyring(t, st, ES256, clk, mod), newTestKeyring(t, st, ES256, clk, mod)}
			first := rings[0].Keys()[0].ID // active from the start
			maxAge := time.Duration(rings[0].JWKSCacheSeconds()) * time.Second
			if maxAge <= 0 || 4*maxAge > lead {
				t.Fatalf("JWKS max-age %s for lead time %s, want positive and at most a quarter of it", maxAge, lead)
			}
			published := map[string]time.Time{} // kid → first minute in every JWKS
			signed := map[string]time.Time{}    // kid → first minute it signed
			end := clk.Now().Add(3 * period)
			for ; clk.Now().Before(end); clk.Add(time.Minute) {
				for _, k := range rings {
					if err := k.Maintain(ctx); err != nil {
						t.Fatal(err)
					}
				}
				in := map[string]int{}
				for _, k := range rings {
					for _, kid := range jwksKids(t, k) {
						in[kid]++
					}
				}
				for kid, n := range in {
					if _, ok := published[kid]; !ok && n == len(rings) {
						published[kid] = clk.Now()
					}
				}
				for _, k := range rings {
					if kid, _ := signKid(t, k); signed[kid].IsZero() {
						signed[kid] = clk.Now()
					}
				}
			}
			if len(signed) < 3 {
				t.Fatalf("got %d keys signing in %s, want at least 3 rotations", len(signed), 3*period)
			}
			for kid, at := range signed {
				pub, ok := published[kid]
				switch {
				case !ok:
					t.Errorf("key %s signed from %s without being published", kid, at)
				case kid != first && at.Sub(pub) < lead:
					t.Errorf("key %s: published %s before it signed, want at least the lead time %s", kid, at.Sub(pub), lead)
				}
			}
		})
	}
}

func TestMaintainRecreatesMissingKey(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	k := newTestKeyring(t, st, ES256, clk, nil)
	st.mu.Lock()
	st.keys = nil
	st.mu.Unlock()
	if err := k.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys, _ := st.snapshot()
	if len(keys) != 1 {
		t.Fatalf("got %d keys, want 1", len(keys))
	}
	if got, _ := signKid(t, k); got != keys[0].ID {
		t.Errorf("got signer %s, want %s", got, keys[0].ID)
	}
}

func TestSignBeforeInit(t *testing.T) {
	k, err := NewKeyring(&fakeStore{}, Config{MasterKey: testMaster(t, testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(&Claims{}); err == nil {
		t.Errorf("Sign: got no error, want one")
	}
	if _, err := k.Verify("a.b.c", time.Now()); err == nil {
		t.Errorf("Verify: got no error, want one")
	}
	if got := string(k.JWKS()); got != `{"keys":[]}` {
		t.Errorf("JWKS: got %s, want an empty set", got)
	}
	if got := k.Keys(); len(got) != 0 {
		t.Errorf("Keys: got %v, want none", got)
	}
}

func TestSignWithClockBehind(t *testing.T) {
	// Another process created the first key with a clock 2 s ahead of ours.
	clk := newClock()
	st := &fakeStore{}
	newTestKeyring(t, st, ES256, clk, nil)
	behind := testutil.NewClock(clk.Now().Add(-2 * time.Second))
	k := newTestKeyring(t, st, ES256, behind, nil)
	if _, err := k.Sign(&Claims{JTI: "x"}); err != nil {
		t.Errorf("got %v, want the only (next) key to sign", err)
	}
}

func TestNewKeyringConfig(t *testing.T) {
	master := testMaster(t, testSecret)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{MasterKey: master}, ""},
		{"RS256", Config{MasterKey: master, Algorithm: RS256}, ""},
		{"unknown alg", Config{MasterKey: master, Algorithm: "HS256"}, "not supported"},
		{"no master key", Config{}, "master key"},
		{"short master key", Config{MasterKey: master[:16]}, "master key"},
		{"rotation shorter than lead", Config{MasterKey: master, RotationPeriod: 30 * time.Minute}, "longer than the lead time"},
		{"lead time under a minute", Config{MasterKey: master, LeadTime: 20 * time.Second}, "shorter than 1m0s"},
		{"negative", Config{MasterKey: master, MaxTokenTTL: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyring(&fakeStore{}, tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if k.cfg.Algorithm == "" || k.cfg.LeadTime != DefaultLeadTime || k.cfg.MaxTokenTTL != 0 || k.cfg.Now == nil || k.cfg.Rand == nil || k.log == nil {
					t.Errorf("got config %+v, want defaults filled in", k.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAlgorithmsAndCache(t *testing.T) {
	clk := newClock()
	st := &fakeStore{}
	newTestKeyring(t, st, EdDSA, clk, nil)
	k := newTestKeyring(t, st, ES256, clk, func(c *Config) { c.LeadTime = 10 * time.Minute })
	if got, want := k.Algorithms(), []string{ES256, EdDSA}; !slices.Equal(got, want) {
		t.Errorf("got Algorithms %v, want %v", got, want)
	}
	tests := []struct {
		lead time.Duration
		want int
	}{
		{10 * time.Minute, 150},
		{time.Hour, 300},
		{24 * time.Hour, 300},
		{time.Minute, 15},
	}
	for _, tt := range tests {
		k, err := NewKeyring(st, Config{MasterKey: testMaster(t, testSecret), LeadTime: tt.lead})
		if err != nil {
			t.Fatal(err)
		}
		if got := k.JWKSCacheSeconds(); got != tt.want {
			t.Errorf("lead %v: got %d s, want %d", tt.lead, got, tt.want)
		}
	}
}

func TestKeysJSON(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	b, err := json.Marshal(k.Keys())
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{
		"id": k.Keys()[0].ID, "algorithm": "ES256", "state": "active",
		"created_at": "2025-03-01T12:00:00Z", "active_at": "2025-03-01T12:00:00Z",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Keys JSON (-want +got):\n%s", diff)
	}
}

func TestReloadReusesParsedKeys(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	before := activeKey(t, k)
	if err := k.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := activeKey(t, k); after != before {
		t.Errorf("Reload decrypted an unchanged key again")
	}
}

// Concurrent Sign during Rotate and Reload, for the race detector.
func TestSignConcurrentWithReload(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			c := testClaims(clk.Now())
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := k.Sign(&c)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Verify(tok, clk.Now()); err != nil {
					t.Error(err)
					return
				}
				_ = k.JWKS()
			}
		})
	}
	for range 5 {
		if _, err := k.Rotate(ctx, "test", true); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	close(stop)
	wg.Wait()
}

// TestRotateImmediateSameSecond: keys rotated at once within the second
// the current key started signing in (stored times have whole seconds)
// each start a second later, so the newest signs once its second has come,
// never outranked by an older key of the same second with a greater ID.
func TestRotateImmediateSameSecond(t *testing.T) {
	clk := newClock()
	k := newTestKeyring(t, &fakeStore{}, ES256, clk, nil)
	var nk store.SigningKey
	for range 10 {
		var err error
		if nk, err = k.Rotate(context.Background(), "cli:root", true); err != nil {
			t.Fatal(err)
		}
	}
	if want := clk.Now().Add(10 * time.Second); !nk.ActiveAt.Equal(want) {
		t.Errorf("tenth rotation in one second: got ActiveAt %v, want %v", nk.ActiveAt, want)
	}
	clk.Add(10 * time.Second)
	if got, _ := signKid(t, k); got != nk.ID {
		t.Errorf("got signer %s, want the newest key %s", got, nk.ID)
	}
}
