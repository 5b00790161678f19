package server

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Revoking everything issued to a client (clients.Service.RevokeTokens),
// as the server's endpoints see it.

// TestRevokeTokensIntrospection: a token of the client whose iat is at or
// before the revocation's second introspects as inactive (also one issued
// later in that second), a token issued in a later second or by another
// client as active.
func TestRevokeTokensIntrospection(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})
	otherID, otherSecret := h.client(clients.Spec{Scopes: []string{"search"}})
	rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
	active := func(tok string) bool {
		t.Helper()
		r := h.post(PathIntrospect, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(rsID, rsSecret)})
		if r.status != 200 {
			t.Fatalf("introspect: got %d %s", r.status, r.body)
		}
		return r.json["active"] == true
	}
	token := func(id, secret string) string {
		t.Helper()
		r := h.token(id, secret, "")
		tok, _ := r.json["access_token"].(string)
		if r.status != 200 || tok == "" {
			t.Fatalf("token for %s: got %d %s", id, r.status, r.body)
		}
		return tok
	}

	// The clock starts on a whole second.
	h.clock.Add(250 * time.Millisecond)
	early := token(id, secret)
	h.clock.Add(time.Minute)
	sameSecondBefore := token(id, secret)
	other := token(otherID, otherSecret)
	h.clock.Add(100 * time.Millisecond)
	at, err := h.svc.RevokeTokens(ctx, "test", id)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(100 * time.Millisecond)
	sameSecondAfter := token(id, secret)
	h.clock.Add(time.Second)
	nextSecond := token(id, secret)
	if iat := int64(claims(t, sameSecondAfter)["iat"].(float64)); iat != at.Unix() {
		t.Fatalf("the token issued after the revocation has iat %d, want the revocation's second %d", iat, at.Unix())
	}

	for _, tc := range []struct {
		name, tok string
		want      bool
	}{
		{"issued a minute before", early, false},
		{"issued in the same second, before", sameSecondBefore, false},
		{"issued in the same second, after (fail closed)", sameSecondAfter, false},
		{"issued in the next second", nextSecond, true},
		{"another client's", other, true},
	} {
		if got := active(tc.tok); got != tc.want {
			t.Errorf("%s: active %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRevokeTokensRefresh: the client's refresh tokens stop working; one
// issued afterwards works.
func TestRevokeTokensRefresh(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}, GrantTypes: []string{store.GrantClientCredentials, store.GrantRefreshToken},
		RefreshWithClientCredentials: true})
	refreshToken := func() string {
		t.Helper()
		r := h.token(id, secret, "")
		rt, _ := r.json["refresh_token"].(string)
		if r.status != 200 || rt == "" {
			t.Fatalf("token: got %d %s, want one with a refresh token", r.status, r.body)
		}
		return rt
	}
	refresh := func(rt string) response {
		return h.post(PathToken, "grant_type=refresh_token&refresh_token="+url.QueryEscape(rt), map[string]string{"Authorization": basic(id, secret)})
	}
	old := refreshToken()
	if _, err := h.svc.RevokeTokens(ctx, "test", id); err != nil {
		t.Fatal(err)
	}
	wantError(t, refresh(old), 400, "invalid_grant")

	h.clock.Add(time.Second)
	if r := refresh(refreshToken()); r.status != 200 {
		t.Errorf("a refresh token issued after the revocation: got %d %s, want 200", r.status, r.body)
	}
}

// TestRevokeTokensFeed: the feed lists a client's revocation as
// {"client_id", "iat_before", "exp"}, without jti, in order with the
// revoked tokens; revoking again sends it again with iat_before moved.
func TestRevokeTokensFeed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})
	revokeOne := func() string {
		t.Helper()
		tok := h.token(id, secret, "").json["access_token"].(string)
		if r := h.post(PathRevoke, "token="+url.QueryEscape(tok), map[string]string{"Authorization": basic(id, secret)}); r.status != 200 {
			t.Fatalf("revoke: got %d %s", r.status, r.body)
		}
		return claims(t, tok)["jti"].(string)
	}
	// The store stamps the feed's order with the real clock: pauses keep
	// the entries apart.
	first := revokeOne()
	time.Sleep(2 * time.Millisecond)
	h.clock.Add(1500 * time.Millisecond) // T is not on a whole second
	at, err := h.svc.RevokeTokens(ctx, "test", id)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	last := revokeOne()

	entries := func(cursor string) []map[string]any {
		t.Helper()
		r := h.feedGet(cursor, nil)
		var body struct {
			Revoked []map[string]any `json:"revoked"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); r.status != 200 || err != nil {
			t.Fatalf("feed: got %d %s (%v)", r.status, r.body, err)
		}
		return body.Revoked
	}
	got := entries("")
	// exp: iat_before plus the harness's maximum token lifetime, 30 days.
	wantClient := map[string]any{"client_id": id, "iat_before": float64(at.Unix() + 1), "exp": float64(at.Unix() + 1 + 30*24*3600)}
	if len(got) != 3 {
		t.Fatalf("feed: got %v, want the token, the client and the token", got)
	}
	if got[0]["jti"] != first || got[2]["jti"] != last || len(got[0]) != 2 || len(got[2]) != 2 {
		t.Errorf("the token entries: got %v and %v, want {jti, exp} for %s and %s", got[0], got[2], first, last)
	}
	if diff := cmp.Diff(wantClient, got[1]); diff != "" {
		t.Errorf("the client's entry (-want +got):\n%s", diff)
	}

	// Revoking again moves iat_before and exp forward, and the entry comes
	// again after the cursor of a poll that had it.
	var page feedPage
	if err := json.Unmarshal([]byte(h.feedGet("", nil).body), &page); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a later store stamp
	h.clock.Add(10 * time.Second)
	again, err := h.svc.RevokeTokens(ctx, "test", id)
	if err != nil {
		t.Fatal(err)
	}
	got = entries("cursor=" + url.QueryEscape(*page.Cursor))
	wantClient["iat_before"], wantClient["exp"] = float64(again.Unix()+1), float64(again.Unix()+1+30*24*3600)
	if len(got) == 0 || cmp.Diff(wantClient, got[len(got)-1]) != "" {
		t.Errorf("feed from the last cursor after revoking again: got %v, want it to end with %v", got, wantClient)
	}
	for _, e := range entries("") {
		if e["client_id"] == id && e["iat_before"] != wantClient["iat_before"] {
			t.Errorf("feed from the start after revoking again: %v, want the client listed once, with iat_before %v", e, wantClient["iat_before"])
		}
	}
}

// TestRevokeTokensFeedPaging: clients' entries page with the tokens',
// ties at page ends included: walking the feed gives each entry once, in
// order.
func TestRevokeTokensFeedPaging(t *testing.T) {
	h := newHarness(t)
	h.srv.revPageSize = 2
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exp := h.clock.Now().Add(time.Hour)
	us := func(n int) time.Time { return base.Add(time.Duration(n) * time.Microsecond) }
	// Microsecond offsets: a client and a token tie at 1 across the first
	// page's end, three clients tie at 3 (a page of ties).
	h.seed(seeded{"t-a", exp, us(0)}, seeded{"t-b", exp, us(1)}, seeded{"t-c", exp, us(4)})
	for _, c := range []struct {
		id string
		at int
	}{{"c-x", 1}, {"c-p", 3}, {"c-q", 3}, {"c-r", 3}, {"c-z", 5}} {
		h.seedClient(c.id, base, exp, us(c.at))
	}
	want := []string{"t-a", "c-x", "t-b", "c-p", "c-q", "c-r", "t-c", "c-z"} // by time, then jti (clients have none), then client ID

	var got []string
	cursor := ""
	for range 20 {
		r := h.feedGet(cursor, nil)
		var page struct {
			Revoked []revokedToken `json:"revoked"`
			Cursor  string         `json:"cursor"`
			More    bool           `json:"more"`
		}
		if err := json.Unmarshal([]byte(r.body), &page); r.status != 200 || err != nil {
			t.Fatalf("feed: got %d %s (%v)", r.status, r.body, err)
		}
		for _, e := range page.Revoked {
			got = append(got, e.JTI+e.ClientID)
		}
		if !page.More {
			break
		}
		cursor = "cursor=" + url.QueryEscape(page.Cursor)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries walking the feed in pages of 2 (-want +got):\n%s", diff)
	}
}
