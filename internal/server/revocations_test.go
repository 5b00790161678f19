package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/scope"
)

// feedPage is a decoded revocation feed response.
type feedPage struct {
	Revoked []struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	} `json:"revoked"`
	Cursor *string `json:"cursor"`
	More   *bool   `json:"more"`
}

func (p feedPage) jtis() []string {
	var out []string
	for _, r := range p.Revoked {
		out = append(out, r.JTI)
	}
	return out
}

// feedGet requests the revocation feed with the given raw query.
func (h *harness) feedGet(query string, hdr map[string]string) response {
	h.t.Helper()
	u := h.http.URL + PathRevocations
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

// feed requests one page of the feed (cursor "" for none) and checks that
// the response is a well-formed page.
func (h *harness) feed(cursor string, hdr map[string]string) feedPage {
	h.t.Helper()
	q := ""
	if cursor != "" {
		q = "cursor=" + url.QueryEscape(cursor)
	}
	r := h.feedGet(q, hdr)
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s?%s: got %d %s, want 200", PathRevocations, q, r.status, r.body)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		h.t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		h.t.Errorf("Content-Type: got %q, want application/json", got)
	}
	var p feedPage
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		h.t.Fatalf("feed body %s: %v", r.body, err)
	}
	if p.Revoked == nil || p.Cursor == nil || p.More == nil {
		h.t.Fatalf("feed body %s: want revoked (a list, never null), cursor and more", r.body)
	}
	return p
}

// seed records revocations with chosen store times, as if RevokeToken had
// run at those times, writing to the harness's SQLite file directly.
type seeded struct {
	jti       string
	exp       time.Time
	revokedAt time.Time
}

func (h *harness) seed(rows ...seeded) {
	h.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(h.dbDir, "gatehouse.db")+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		h.t.Fatal(err)
	}
	defer tx.Rollback()
	for _, r := range rows {
		if _, err := tx.Exec("INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)",
			r.jti, r.exp.UnixMicro(), r.revokedAt.UnixMicro()); err != nil {
			h.t.Fatalf("seed %s: %v", r.jti, err)
		}
	}
	if err := tx.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

// seedClient records the revocation of a client's tokens issued before
// before, stamped at revokedAt, as if RevokeClientTokens had run then.
func (h *harness) seedClient(clientID string, before, exp, revokedAt time.Time) {
	h.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(h.dbDir, "gatehouse.db")+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO client_revocations (client_id, issued_before, expires_at, revoked_at) VALUES (?, ?, ?, ?)",
		clientID, before.UnixMicro(), exp.UnixMicro(), revokedAt.UnixMicro()); err != nil {
		h.t.Fatalf("seed client %s: %v", clientID, err)
	}
}

func mustDecodeCursor(t *testing.T, c string) time.Time {
	t.Helper()
	at, ok := decodeCursor(c)
	if !ok {
		t.Fatalf("the server's cursor %q does not decode", c)
	}
	return at
}

func TestRevocationFeed(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})

	r := h.feedGet("", nil)
	if want := `{"revoked":[],"cursor":"AAAAAAAAAAA","more":false}`; r.status != 200 || r.body != want {
		t.Fatalf("empty feed: got %d %s, want 200 %s", r.status, r.body, want)
	}

	// Tokens revoked at the revocation endpoint appear with their expiry.
	var want []string
	exps := map[string]int64{}
	for range 3 {
		tok := h.token(id, secret, "").json["access_token"].(string)
		c := claims(t, tok)
		jti := c["jti"].(string)
		want = append(want, jti)
		exps[jti] = int64(c["exp"].(float64))
		if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
			t.Fatalf("revoke: got %d %s", r.status, r.body)
		}
		h.clock.Add(time.Minute)
	}
	p := h.feed("", nil)
	if got := p.jtis(); !slices.Equal(got, want) {
		t.Fatalf("feed after revoking 3 tokens: got %q, want %q in revocation order", got, want)
	}
	for _, rv := range p.Revoked {
		if rv.Exp != exps[rv.JTI] {
			t.Errorf("%s: exp %d, want the token's exp %d", rv.JTI, rv.Exp, exps[rv.JTI])
		}
	}
	if *p.More {
		t.Error("more: got true, want false")
	}
	// Polling again with the cursor re-sends the last few seconds.
	if got := h.feed(*p.Cursor, nil).jtis(); !slices.Equal(got, want) {
		t.Errorf("feed from the returned cursor: got %q, want %q (all within the overlap)", got, want)
	}

	// Expired tokens drop out: the first expires an hour after it was
	// issued, three minutes ago; the others a minute apart after it.
	h.clock.Add(time.Hour - 3*time.Minute - time.Second)
	if got := h.feed("", nil).jtis(); !slices.Equal(got, want) {
		t.Errorf("feed just before the first expiry: got %q, want %q", got, want)
	}
	h.clock.Add(time.Second)
	if got := h.feed("", nil).jtis(); !slices.Equal(got, want[1:]) {
		t.Errorf("feed once the first token expired: got %q, want %q", got, want[1:])
	}
	h.clock.Add(time.Hour)
	if got := h.feed(*p.Cursor, nil).jtis(); got != nil {
		t.Errorf("feed once every token expired: got %q, want none", got)
	}

	// Only GET (and HEAD).
	wantError(t, h.post(PathRevocations, "", nil), http.StatusMethodNotAllowed, "invalid_request")
}

func TestRevocationFeedCursor(t *testing.T) {
	h := newHarness(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exp := h.clock.Now().Add(time.Hour)
	at := func(sec float64) time.Time { return base.Add(time.Duration(sec * float64(time.Second))) }
	h.seed(
		seeded{"a", exp, at(0)},
		seeded{"b", exp, at(50)},
		seeded{"c", exp, at(57)},
		seeded{"d", exp, at(60)},
	)

	p := h.feed("", nil)
	if got, want := p.jtis(), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("feed without a cursor: got %q, want %q", got, want)
	}
	if got, want := mustDecodeCursor(t, *p.Cursor), at(55); !got.Equal(want) {
		t.Errorf("cursor: got %v, want %v (the newest entry minus 5s)", got, want)
	}

	// The next poll re-sends what was recorded in the 5s before the newest
	// entry, and nothing older.
	p = h.feed(*p.Cursor, nil)
	if got, want := p.jtis(), []string{"c", "d"}; !slices.Equal(got, want) {
		t.Errorf("feed from the cursor: got %q, want %q", got, want)
	}
	h.seed(seeded{"e", exp, at(90)})
	p = h.feed(*p.Cursor, nil)
	if got, want := p.jtis(), []string{"c", "d", "e"}; !slices.Equal(got, want) {
		t.Errorf("feed after a new revocation: got %q, want %q", got, want)
	}
	p = h.feed(*p.Cursor, nil)
	if got, want := p.jtis(), []string{"e"}; !slices.Equal(got, want) {
		t.Errorf("feed once the cursor moved on: got %q, want %q", got, want)
	}

	// The cursor never moves back, and an empty page keeps it.
	for _, tt := range []struct {
		since, want time.Time
		jtis        []string
	}{
		{at(88), at(88), []string{"e"}},
		{at(90), at(90), []string{"e"}},
		{at(200), at(200), nil},
	} {
		p := h.feed(encodeCursor(tt.since), nil)
		if got := p.jtis(); !slices.Equal(got, tt.jtis) {
			t.Errorf("feed since %v: got %q, want %q", tt.since.Sub(base), got, tt.jtis)
		}
		if got := mustDecodeCursor(t, *p.Cursor); !got.Equal(tt.want) {
			t.Errorf("feed since %v: cursor %v, want %v", tt.since.Sub(base), got.Sub(base), tt.want.Sub(base))
		}
	}
}

// walkFeed follows the feed from the start until more is false and
// returns every page.
func walkFeed(t *testing.T, h *harness) []feedPage {
	t.Helper()
	var pages []feedPage
	cursor := ""
	for {
		p := h.feed(cursor, nil)
		pages = append(pages, p)
		if !*p.More {
			return pages
		}
		if len(pages) > 1000 {
			t.Fatalf("the feed still says more after %d pages; last cursor %q", len(pages), *p.Cursor)
		}
		if next := mustDecodeCursor(t, *p.Cursor); cursor != "" && !next.After(mustDecodeCursor(t, cursor)) {
			t.Fatalf("page %d says more but its cursor does not move forward (%v after %v)", len(pages), next, mustDecodeCursor(t, cursor))
		}
		cursor = *p.Cursor
	}
}

func TestRevocationFeedPaging(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		pageSize int // 0: the real one
		offsets  []int
		maxPage  int // the longest page allowed
	}{
		// Microsecond offsets of each entry's store time.
		{"distinct times", 3, []int{0, 1, 2, 3, 4, 5, 6}, 3},
		{"ties across page ends", 3, []int{0, 1, 1, 1, 2, 2, 3, 3, 3, 4}, 3},
		{"ties within the overlap", 3, []int{0, 100, 200, 300, 400, 500, 600}, 3},
		// More entries in one microsecond than fit in a page: only then
		// is a page longer, so that the cursor can move past them.
		{"a page of ties", 3, []int{0, 5, 5, 5, 5, 5, 9}, 5},
		{"a page of ties first", 3, []int{5, 5, 5, 5, 9}, 4},
		{"real page size", 0, nil, revocationPageSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.pageSize > 0 {
				h.srv.revPageSize = tt.pageSize
			}
			if tt.offsets == nil {
				// 2,500 entries, three to a microsecond, so that page ends
				// fall inside ties.
				for i := range 2500 {
					tt.offsets = append(tt.offsets, i/3)
				}
			}
			exp := h.clock.Now().Add(time.Hour)
			var rows []seeded
			var want []string
			for i, off := range tt.offsets {
				jti := fmt.Sprintf("jti-%04d", i)
				rows = append(rows, seeded{jti, exp, base.Add(time.Duration(off) * time.Microsecond)})
				want = append(want, jti)
			}
			h.seed(rows...)

			pages := walkFeed(t, h)
			var got []string
			seen := map[string]bool{}
			for i, p := range pages {
				if len(p.Revoked) > tt.maxPage {
					t.Errorf("page %d has %d entries, want at most %d", i, len(p.Revoked), tt.maxPage)
				}
				for _, jti := range p.jtis() {
					if seen[jti] {
						t.Errorf("page %d repeats %s: pages that say more must not overlap", i, jti)
					}
					seen[jti] = true
					got = append(got, jti)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("walking the feed in %d pages: got %d entries %q, want %d %q", len(pages), len(got), got, len(want), want)
			}
			if tt.pageSize == 0 && len(pages) < 3 {
				t.Errorf("2,500 entries came in %d pages, want at least 3 of at most %d", len(pages), revocationPageSize)
			}
		})
	}
}

func TestRevocationFeedBadRequests(t *testing.T) {
	h := newHarness(t)
	for _, q := range []string{
		"cursor=!",
		"cursor=AAAAAAAAAA",     // 7 bytes
		"cursor=AAAAAAAAAAAA",   // not a whole number of bytes
		"cursor=AAAAAAAAAAA%3D", // padded
		"cursor=AAAAAAAAAAB",    // non-zero padding bits: not the one spelling
		"cursor=gAAAAAAAAAA",    // negative
		"cursor=AAAAAAAAAAA&cursor=AAAAAAAAAAA",
		"cursor=%zz",
		"client_id=x&client_secret=y",
	} {
		t.Run(q, func(t *testing.T) {
			wantError(t, h.feedGet(q, nil), http.StatusBadRequest, "invalid_request")
		})
	}
	// Parameters the feed does not know are ignored, as are empty ones.
	if p := h.feed("", nil); len(p.Revoked) != 0 {
		t.Errorf("got %q, want none", p.jtis())
	}
	if r := h.feedGet("cursor=&x=1", nil); r.status != 200 {
		t.Errorf("empty cursor and an unknown parameter: got %d %s, want 200", r.status, r.body)
	}
}

const feedScope = "gatehouse:revocations"

func TestRevocationFeedRequiresScope(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) { o.RevocationFeedScope = feedScope }})
	svc := clients.NewService(h.st, scope.Default(), 30*24*time.Hour, h.clock.Now, rand.Reader, feedScope)
	create := func(scopes ...string) (string, string) {
		c, s, err := svc.Create(context.Background(), "test", clients.Spec{Name: "x", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID, s
	}
	gwID, gwSecret := create("search", feedScope)
	appID, appSecret := create("search")
	h.seed(seeded{"j1", h.clock.Now().Add(time.Hour), time.Now()})

	r := h.feedGet("", nil)
	wantError(t, r, http.StatusUnauthorized, "invalid_client")
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
		t.Errorf("WWW-Authenticate: got %q, want a Basic challenge", got)
	}
	wantError(t, h.feedGet("", map[string]string{"Authorization": basic(gwID, "wrong")}), http.StatusUnauthorized, "invalid_client")
	wantError(t, h.feedGet("", map[string]string{"Authorization": basic(appID, appSecret)}), http.StatusForbidden, "access_denied")
	wantError(t, h.feedGet("client_id="+gwID+"&client_secret="+url.QueryEscape(gwSecret), nil), http.StatusBadRequest, "invalid_request")

	if got := h.feed("", map[string]string{"Authorization": basic(gwID, gwSecret)}).jtis(); !slices.Equal(got, []string{"j1"}) {
		t.Errorf("feed with HTTP Basic: got %q, want [j1]", got)
	}
	// client_secret_post, as at the token endpoint.
	req, _ := http.NewRequest("GET", h.http.URL+PathRevocations,
		strings.NewReader("client_id="+gwID+"&client_secret="+url.QueryEscape(gwSecret)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := h.do(req); r.status != 200 || !strings.Contains(r.body, `"j1"`) {
		t.Errorf("feed with client_secret_post: got %d %s, want 200 listing j1", r.status, r.body)
	}

	// The token endpoint grants the scope when asked for it by name, and
	// only to clients allowed it.
	r = h.token(gwID, gwSecret, "scope="+url.QueryEscape(feedScope))
	if r.status != 200 || r.json["scope"] != feedScope {
		t.Errorf("token with scope %s: got %d %s, want 200 with that scope", feedScope, r.status, r.body)
	}
	if r := h.token(gwID, gwSecret, ""); r.status != 200 || r.json["scope"] != "search" {
		t.Errorf("token without a scope: got %d %s, want 200 with scope search only", r.status, r.body)
	}
	wantError(t, h.token(appID, appSecret, "scope="+url.QueryEscape(feedScope)), http.StatusBadRequest, "invalid_scope")

	// An open feed's server knows no such scope.
	open := newHarness(t)
	id, secret := open.client(clients.Spec{Scopes: []string{"search"}})
	wantError(t, open.token(id, secret, "scope="+url.QueryEscape(feedScope)), http.StatusBadRequest, "invalid_scope")
}

func TestNewRejectsFeedScope(t *testing.T) {
	h := newHarness(t)
	for _, sc := range []string{"api", "a b", "account:acme", `a"b`} {
		_, err := New(Options{Store: h.st, Keys: h.keys, Catalog: scope.Default(), Issuer: "http://issuer.test", RevocationFeedScope: sc,
			DefaultTTL: time.Hour, MaxTTL: time.Hour, RefreshIdleTTL: time.Hour, RefreshAbsoluteTTL: time.Hour})
		if err == nil {
			t.Errorf("New with RevocationFeedScope %q: got nil error, want one", sc)
		}
	}
}

// TestRevocationFeedGolden pins the feed's response shape, both kinds of
// entry.
func TestRevocationFeedGolden(t *testing.T) {
	h := newHarness(t, harnessOpts{opts: func(o *Options) { o.RevocationFeedScope = feedScope }})
	svc := clients.NewService(h.st, scope.Default(), 30*24*time.Hour, h.clock.Now, rand.Reader, feedScope)
	gw, gwSecret, err := svc.Create(context.Background(), "test", clients.Spec{ID: "golden-gateway", Name: "gw", Scopes: []string{feedScope}})
	if err != nil {
		t.Fatal(err)
	}
	app, appSecret, err := svc.Create(context.Background(), "test", clients.Spec{ID: "golden-app", Name: "app", Scopes: []string{"search"}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h.seed(
		seeded{"Nq4Ew1LZcV9q3x3bN0aWbA", exp, base},
		seeded{"p0bsBiOtT3eHkKr0yqkm1g", exp.Add(time.Hour), base.Add(2 * time.Second)},
	)
	// The tokens of golden-app issued until 12:00:00.75 (iat < 12:00:01).
	h.seedClient(app.ID, base.Add(750*time.Millisecond), exp.Add(2*time.Hour), base.Add(time.Second))
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"revocations", map[string]string{"Authorization": basic(gw.ID, gwSecret)}},
		{"revocations-denied", map[string]string{"Authorization": basic(app.ID, appSecret)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name, render(h.feedGet("", tc.hdr)))
		})
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("response differs from %s (-want +got):\n%s", path, diff)
	}
}
