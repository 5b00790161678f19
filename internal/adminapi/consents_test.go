package adminapi_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

// app registers a confidential client for the authorization code grant
// with refresh tokens.
func (h *harness) app(id string) (secret string) {
	h.t.Helper()
	_, secret, err := h.clients.Create(context.Background(), "test", clients.Spec{ID: id, Name: "App " + id,
		GrantTypes:   []string{store.GrantAuthorizationCode, store.GrantRefreshToken},
		RedirectURIs: []string{"https://" + id + ".example/cb"}, Scopes: []string{"orders", "reports"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return secret
}

// consent records the user's consent to the app and a refresh token issued
// under it, as the authorization code flow leaves them.
func (h *harness) consent(userID, clientID string, scopes ...string) (refreshToken string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.cons.Approve(ctx, userID, clientID, scopes); err != nil {
		h.t.Fatal(err)
	}
	rf := grant.Refresher{Store: h.st, Now: h.clk.Now, Rand: rand.Reader, IdleTTL: time.Hour, AbsoluteTTL: 24 * time.Hour}
	tok, _, err := rf.Start(ctx, clientID, userID, scopes, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// refresh uses a refresh token at the token endpoint and returns the
// status and the error code, if any.
func (h *harness) refresh(clientID, secret, tok string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	r := h.do(req)
	var body struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &body)
	return r.code, body.Error
}

func TestConsents(t *testing.T) {
	h := newHarness(t)
	caller, tok := h.admin()
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"ann", "ben"} {
		u, _, err := h.users.Invite(ctx, "test", users.Spec{Username: name})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	ann, ben := ids[0], ids[1]
	if ann > ben {
		ann, ben = ben, ann // ann's ID sorts first
	}
	reportsSecret := h.app("reports")
	h.app("sync")
	annReports := h.consent(ann, "reports", "orders", "reports")
	benReports := h.consent(ben, "reports", "orders")
	h.consent(ann, "sync", "reports")

	list := func(query string) admin.Page[admin.Consent] {
		t.Helper()
		r := h.call(tok, "GET", "/consents?"+query, nil)
		wantStatus(t, "GET /consents?"+query, r, http.StatusOK)
		return decode[admin.Page[admin.Consent]](t, r)
	}
	ids = nil
	for _, c := range list("client=reports").Items {
		ids = append(ids, c.ID)
	}
	if want := []string{ann + ":reports", ben + ":reports"}; !slices.Equal(ids, want) {
		t.Errorf("consents to reports: got %q, want %q", ids, want)
	}
	page := list("user=" + ann)
	if len(page.Items) != 2 || page.NextCursor != "" {
		t.Fatalf("ann's consents: %+v, want two on one page", page)
	}
	want := admin.Consent{ID: ann + ":reports", UserID: ann, ClientID: "reports", Scopes: []string{"orders", "reports"},
		GrantedAt: h.clk.Now().UTC()}
	if got := page.Items[0]; got.ID != want.ID || got.UserID != want.UserID || got.ClientID != want.ClientID ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.GrantedAt.Equal(want.GrantedAt) {
		t.Errorf("ann's first consent = %+v, want %+v", got, want)
	}
	if got := list("user=" + ann + "&client=sync").Items; len(got) != 1 || got[0].ID != ann+":sync" {
		t.Errorf("ann's consent to sync: %+v", got)
	}
	if got := list("user=usr_nobody").Items; len(got) != 0 || got == nil {
		t.Errorf("consents of nobody: %#v, want an empty list", got)
	}
	// Pages of one.
	first := list("client=reports&limit=1")
	if len(first.Items) != 1 || first.NextCursor == "" {
		t.Fatalf("first page: %+v, want one consent and a cursor", first)
	}
	second := list("client=reports&limit=1&cursor=" + first.NextCursor)
	if len(second.Items) != 1 || second.Items[0].ID != ben+":reports" || second.NextCursor != "" {
		t.Errorf("second page: %+v, want ben's consent and no cursor", second)
	}

	p := wantProblem(t, "GET /consents without a filter", h.call(tok, "GET", "/consents", nil), http.StatusBadRequest, admin.ProblemInvalid)
	if p.Field != "user" || !strings.Contains(p.Detail, "?client=") {
		t.Errorf("no filter: field %q detail %q; want field user and a detail naming both parameters", p.Field, p.Detail)
	}
	wantProblem(t, "empty filters", h.call(tok, "GET", "/consents?user=&client=", nil), http.StatusBadRequest, admin.ProblemInvalid)
	p = wantProblem(t, "bad cursor", h.call(tok, "GET", "/consents?client=reports&cursor=bm9jb2xvbg", nil), http.StatusBadRequest, admin.ProblemInvalid)
	if p.Field != "cursor" {
		t.Errorf("bad cursor: field %q, want cursor", p.Field)
	}

	// Revoking ends the consent and the refresh tokens issued under it,
	// not the other user's.
	if code, e := h.refresh("reports", reportsSecret, annReports); code != http.StatusOK {
		t.Fatalf("refresh before the revocation: %d %s", code, e)
	}
	wantStatus(t, "revoke", h.call(tok, "DELETE", "/consents/"+ann+":reports", nil), http.StatusNoContent)
	if ids := list("client=reports").Items; len(ids) != 1 || ids[0].UserID != ben {
		t.Errorf("consents to reports after the revocation: %+v, want only ben's", ids)
	}
	// The refresh token was rotated above; its family is revoked, so the
	// old token (reused) and any new one fail alike.
	if code, e := h.refresh("reports", reportsSecret, annReports); code != http.StatusBadRequest || e != "invalid_grant" {
		t.Errorf("ann's refresh token after the revocation: %d %s, want 400 invalid_grant", code, e)
	}
	if code, e := h.refresh("reports", reportsSecret, benReports); code != http.StatusOK {
		t.Errorf("ben's refresh token after ann's revocation: %d %s, want 200", code, e)
	}
	r := h.call(tok, "GET", "/audit?action=consent.revoke", nil)
	evs := decode[admin.Page[admin.AuditEvent]](t, r).Items
	if len(evs) != 1 || evs[0].Actor != "api:"+caller || evs[0].Target != "reports" || !strings.Contains(evs[0].Detail, ann) {
		t.Errorf("consent.revoke events = %+v; want one by api:%s on reports naming ann", evs, caller)
	}

	for _, id := range []string{ann + ":reports", ann + ":nothing", "usr_nobody:reports", "no-colon", ":reports", ann + ":"} {
		p := wantProblem(t, "DELETE /consents/"+id, h.call(tok, "DELETE", "/consents/"+url.PathEscape(id), nil), http.StatusNotFound, admin.ProblemNotFound)
		if !strings.HasPrefix(p.Detail, "no such consent") {
			t.Errorf("DELETE /consents/%s: detail %q, want no such consent", id, p.Detail)
		}
	}
	wantProblem(t, "GET a consent", h.call(tok, "GET", "/consents/"+ben+":reports", nil), http.StatusMethodNotAllowed, admin.ProblemMethod)
}
