package adminapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

const pw = "a good long password"

func TestUsersCRUD(t *testing.T) {
	h := newHarness(t)
	caller, tok := h.admin()

	r := h.call(tok, "POST", "/users", admin.NewUser{Username: "Ada", DisplayName: "Ada Lovelace", Password: pw})
	wantStatus(t, "create", r, http.StatusCreated)
	u := decode[admin.User](t, r)
	if !strings.HasPrefix(u.ID, "usr_") || u.Username != "Ada" || u.DisplayName != "Ada Lovelace" || u.Role != store.RoleMember ||
		u.Disabled || u.SetPasswordURL != "" || u.SetPasswordExpiresAt != nil || u.CreatedAt.IsZero() {
		t.Errorf("created user = %+v; want Ada, a member, enabled, without a set-password link", u)
	}
	if strings.Contains(r.body, "password_hash") || strings.Contains(r.body, "argon2") {
		t.Errorf("the response shows the password hash: %s", r.body)
	}
	if got, want := r.hdr.Get("Location"), adminapi.Prefix+"/users/"+u.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	etag := r.hdr.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Errorf("ETag = %q, want a strong entity tag", etag)
	}
	if _, err := h.users.Authenticate(context.Background(), "ada", pw, "a"); err != nil {
		t.Errorf("login with the password given: %v", err)
	}

	r = h.call(tok, "GET", "/users/"+u.ID, nil)
	wantStatus(t, "show", r, http.StatusOK)
	if got := decode[admin.User](t, r); got != u {
		t.Errorf("GET = %+v, want what POST returned, %+v", got, u)
	}
	if r.hdr.Get("ETag") != etag {
		t.Errorf("GET ETag = %s, want the create's %s", r.hdr.Get("ETag"), etag)
	}

	// Another administrator, so that Ada may be made one and disabled.
	wantStatus(t, "create an admin", h.call(tok, "POST", "/users", admin.NewUser{Username: "root", Role: "admin", Password: pw}), http.StatusCreated)

	// PATCH with the current ETag; the old one is stale afterwards.
	h.clk.Add(time.Second)
	r = h.call(tok, "PATCH", "/users/"+u.ID, `{"display_name": "Countess", "role": "admin"}`,
		"Content-Type", "application/merge-patch+json", "If-Match", etag)
	wantStatus(t, "patch", r, http.StatusOK)
	patched := decode[admin.User](t, r)
	if patched.DisplayName != "Countess" || patched.Role != store.RoleAdmin || !patched.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("patched = %+v; want display name Countess, admin, updated later", patched)
	}
	newTag := r.hdr.Get("ETag")
	if newTag == etag || newTag == "" {
		t.Errorf("ETag after the patch = %q; want a new one", newTag)
	}
	r = h.call(tok, "PATCH", "/users/"+u.ID, `{"display_name": "Stale"}`, "If-Match", etag)
	wantProblem(t, "patch with a stale ETag", r, http.StatusPreconditionFailed, admin.ProblemPrecondition)
	if got := decode[admin.User](t, h.call(tok, "GET", "/users/"+u.ID, nil)); got.DisplayName != "Countess" {
		t.Errorf("a stale patch changed the user: %+v", got)
	}
	r = h.call(tok, "PATCH", "/users/"+u.ID, `{"display_name": null, "password": "another long password"}`, "If-Match", `W/`+newTag+`, `+newTag)
	wantStatus(t, "patch with a list naming the ETag", r, http.StatusOK)
	if got := decode[admin.User](t, r); got.DisplayName != "Ada" {
		t.Errorf("display name reset by null: got %q, want the username", got.DisplayName)
	}
	if _, err := h.users.Authenticate(context.Background(), "ada", "another long password", "b"); err != nil {
		t.Errorf("login with the patched password: %v", err)
	}
	wantStatus(t, "patch with If-Match *", h.call(tok, "PATCH", "/users/"+u.ID, `{"disabled": true}`, "If-Match", "*"), http.StatusOK)
	wantStatus(t, "patch without If-Match", h.call(tok, "PATCH", "/users/"+u.ID, `{"disabled": false}`), http.StatusOK)

	// Bad patches change nothing.
	for _, tc := range []struct {
		body, ct string
		status   int
		typ      string
		field    string
	}{
		{`{"nickname": "x"}`, "", http.StatusBadRequest, admin.ProblemMalformed, "/nickname"},
		{`{"username": "eve"}`, "", http.StatusUnprocessableEntity, admin.ProblemInvalid, "/username"},
		{`{"id": "usr_x"}`, "", http.StatusUnprocessableEntity, admin.ProblemInvalid, "/id"},
		{`{"password": null}`, "", http.StatusUnprocessableEntity, admin.ProblemInvalid, "/password"},
		{`{"disabled": "yes"}`, "", http.StatusBadRequest, admin.ProblemMalformed, "/disabled"},
		{`{"role": "root"}`, "", http.StatusUnprocessableEntity, admin.ProblemInvalid, ""},
		{`{"password": "short"}`, "", http.StatusUnprocessableEntity, admin.ProblemInvalid, ""},
		{`[1]`, "", http.StatusBadRequest, admin.ProblemMalformed, ""},
		{`null`, "", http.StatusBadRequest, admin.ProblemMalformed, ""},
		{`{"role": "admin"} {}`, "", http.StatusBadRequest, admin.ProblemMalformed, ""},
		{`{"role": "admin"}`, "text/plain", http.StatusUnsupportedMediaType, admin.ProblemUnsupportedType, "Content-Type"},
	} {
		hdr := []string{}
		if tc.ct != "" {
			hdr = []string{"Content-Type", tc.ct}
		}
		p := wantProblem(t, "PATCH "+tc.body, h.call(tok, "PATCH", "/users/"+u.ID, tc.body, hdr...), tc.status, tc.typ)
		if p.Field != tc.field {
			t.Errorf("PATCH %s: field %q, want %q", tc.body, p.Field, tc.field)
		}
	}
	if got := decode[admin.User](t, h.call(tok, "GET", "/users/"+u.ID, nil)); got.Role != store.RoleAdmin || got.Disabled {
		t.Errorf("bad patches changed the user: %+v", got)
	}

	// Bad creates.
	for _, tc := range []struct {
		body   string
		status int
		typ    string
	}{
		{`{"username": "ADA", "password": "` + pw + `"}`, http.StatusConflict, admin.ProblemConflict},
		{`{"username": "ada"}`, http.StatusConflict, admin.ProblemConflict},
		{`{"username": "no spaces", "password": "` + pw + `"}`, http.StatusUnprocessableEntity, admin.ProblemInvalid},
		{`{"username": "bob", "password": "short"}`, http.StatusUnprocessableEntity, admin.ProblemInvalid},
		{`{"username": "bob", "role": "root"}`, http.StatusUnprocessableEntity, admin.ProblemInvalid},
		{`{"username": "bob", "password_hash": "x"}`, http.StatusBadRequest, admin.ProblemMalformed},
		{`{"username": 7}`, http.StatusBadRequest, admin.ProblemMalformed},
		{``, http.StatusBadRequest, admin.ProblemMalformed},
	} {
		wantProblem(t, "POST "+tc.body, h.call(tok, "POST", "/users", tc.body), tc.status, tc.typ)
	}

	// DELETE honours If-Match; afterwards the user is gone.
	cur := h.call(tok, "GET", "/users/"+u.ID, nil).hdr.Get("ETag")
	wantProblem(t, "delete with a stale ETag", h.call(tok, "DELETE", "/users/"+u.ID, nil, "If-Match", etag), http.StatusPreconditionFailed, admin.ProblemPrecondition)
	wantStatus(t, "delete", h.call(tok, "DELETE", "/users/"+u.ID, nil, "If-Match", cur), http.StatusNoContent)
	p := wantProblem(t, "GET a deleted user", h.call(tok, "GET", "/users/"+u.ID, nil), http.StatusNotFound, admin.ProblemNotFound)
	if p.Detail != "no such user" {
		t.Errorf("404 detail = %q, want no such user", p.Detail)
	}
	wantProblem(t, "delete again", h.call(tok, "DELETE", "/users/"+u.ID, nil), http.StatusNotFound, admin.ProblemNotFound)
	wantProblem(t, "patch a deleted user", h.call(tok, "PATCH", "/users/"+u.ID, `{"role": "member"}`), http.StatusNotFound, admin.ProblemNotFound)
	wantProblem(t, "PUT", h.call(tok, "PUT", "/users/"+u.ID, `{}`), http.StatusMethodNotAllowed, admin.ProblemMethod)

	// Every change is audited as the API caller.
	r = h.call(tok, "GET", "/audit?target="+u.ID, nil)
	wantStatus(t, "audit", r, http.StatusOK)
	var got []string
	for _, e := range decode[admin.Page[admin.AuditEvent]](t, r).Items {
		got = append(got, e.Actor+" "+e.Action)
		if strings.Contains(e.Detail, "another long password") {
			t.Errorf("audit event %d holds the password: %q", e.ID, e.Detail)
		}
	}
	want := []string{"api:" + caller + " user.delete"}
	for range 4 {
		want = append(want, "api:"+caller+" user.update")
	}
	want = append(want, "api:"+caller+" user.create")
	if !slices.Equal(got, want) {
		t.Errorf("audit trail of the user: got %q, want %q", got, want)
	}
	if strings.Contains(h.logs.String(), "another long password") || strings.Contains(h.logs.String(), pw) {
		t.Error("the log holds a password")
	}
}

// TestUsersIdempotencyKey: a retried create with the same key answers the
// first response and creates nothing more.
func TestUsersIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	_, tok := h.admin()
	body := `{"username": "retry", "password": "` + pw + `"}`
	first := h.call(tok, "POST", "/users", body, "Idempotency-Key", "k-1")
	wantStatus(t, "create", first, http.StatusCreated)
	again := h.call(tok, "POST", "/users", body, "Idempotency-Key", "k-1")
	wantStatus(t, "retry", again, http.StatusCreated)
	if again.body != first.body || again.hdr.Get("Idempotent-Replayed") != "true" || again.hdr.Get("Location") != first.hdr.Get("Location") {
		t.Errorf("retry: got %s (replayed %q), want the first response %s", again.body, again.hdr.Get("Idempotent-Replayed"), first.body)
	}
	wantProblem(t, "same key, other body", h.call(tok, "POST", "/users", `{"username": "other", "password": "`+pw+`"}`, "Idempotency-Key", "k-1"),
		http.StatusUnprocessableEntity, admin.ProblemIdempotency)
	page := decode[admin.Page[admin.User]](t, h.call(tok, "GET", "/users", nil))
	if len(page.Items) != 1 {
		t.Errorf("users after a retried create: %+v, want one", page.Items)
	}
}

// TestUsersPages pages through 120 users 50 at a time, and searches.
func TestUsersPages(t *testing.T) {
	h := newHarness(t)
	_, tok := h.admin()
	ctx := context.Background()
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("user%03d", (i*37)%120) // created out of order
		if i%3 == 0 {
			name = strings.ToUpper(name[:1]) + name[1:] // case does not change the order
		}
		sp := users.Spec{Username: name, DisplayName: fmt.Sprintf("Person %d", i)}
		if i == 7 {
			sp.DisplayName = "Grace HOPPER"
		}
		if _, _, err := h.users.Invite(ctx, "test", sp); err != nil {
			t.Fatal(err)
		}
		want = append(want, strings.ToLower(name))
	}
	sort.Strings(want)

	var got []string
	cursor, pages := "", 0
	for {
		q := url.Values{"limit": {"50"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := h.call(tok, "GET", "/users?"+q.Encode(), nil)
		wantStatus(t, "page", r, http.StatusOK)
		page := decode[admin.Page[admin.User]](t, r)
		pages++
		if wantLen := []int{50, 50, 20}[min(pages, 3)-1]; len(page.Items) != wantLen {
			t.Errorf("page %d: %d users, want %d", pages, len(page.Items), wantLen)
		}
		for _, u := range page.Items {
			got = append(got, strings.ToLower(u.Username))
			if u.SetPasswordURL != "" {
				t.Errorf("a listed user shows a set-password link: %+v", u)
			}
		}
		if page.NextCursor == "" {
			break
		}
		if pages == 3 {
			t.Fatalf("page 3 of 120 users by 50 has a next cursor")
		}
		cursor = page.NextCursor
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages of %d users: got %q, want every user once in order", pages, len(got), got)
	}
	// The default limit is 50.
	if page := decode[admin.Page[admin.User]](t, h.call(tok, "GET", "/users", nil)); len(page.Items) != 50 || page.NextCursor == "" {
		t.Errorf("default page: %d users, cursor %q; want 50 and a cursor", len(page.Items), page.NextCursor)
	}

	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"hopper", []string{"user019"}}, // display name, other case
		{"USER11", []string{"user110", "user111", "user112", "user113", "user114", "user115", "user116", "user117", "user118", "user119"}},
		{"nobody", nil},
	} {
		r := h.call(tok, "GET", "/users?q="+url.QueryEscape(tc.q), nil)
		wantStatus(t, "search "+tc.q, r, http.StatusOK)
		var names []string
		for _, u := range decode[admin.Page[admin.User]](t, r).Items {
			names = append(names, strings.ToLower(u.Username))
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("search %q: got %q, want %q", tc.q, names, tc.want)
		}
	}
	// A search pages too.
	r := h.call(tok, "GET", "/users?q=person+1&limit=5", nil)
	first := decode[admin.Page[admin.User]](t, r)
	r = h.call(tok, "GET", "/users?q=person+1&limit=5&cursor="+first.NextCursor, nil)
	second := decode[admin.Page[admin.User]](t, r)
	if len(first.Items) != 5 || len(second.Items) != 5 || strings.ToLower(first.Items[4].Username) >= strings.ToLower(second.Items[0].Username) {
		t.Errorf("search pages: %d then %d users, want 5 and 5 in order", len(first.Items), len(second.Items))
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=%21%21"} {
		p := wantProblem(t, "GET /users?"+q, h.call(tok, "GET", "/users?"+q, nil), http.StatusBadRequest, admin.ProblemInvalid)
		if want := strings.SplitN(q, "=", 2)[0]; p.Field != want {
			t.Errorf("GET /users?%s: field %q, want %q", q, p.Field, want)
		}
	}
}

// TestLastAdmin: the API refuses with 409 to delete, demote or disable
// the last enabled administrator.
func TestLastAdmin(t *testing.T) {
	h := newHarness(t)
	_, tok := h.admin()
	root := decode[admin.User](t, h.call(tok, "POST", "/users", admin.NewUser{Username: "root", Role: "admin", Password: pw}))
	for _, tc := range []struct {
		method, body string
	}{
		{"DELETE", ""},
		{"PATCH", `{"role": "member"}`},
		{"PATCH", `{"disabled": true}`},
		{"PATCH", `{"role": null}`},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		p := wantProblem(t, tc.method+" the last admin "+tc.body, h.call(tok, tc.method, "/users/"+root.ID, body), http.StatusConflict, admin.ProblemConflict)
		if !strings.Contains(p.Detail, "administrator") {
			t.Errorf("%s %s: detail %q, want it to say why", tc.method, tc.body, p.Detail)
		}
	}
	if got := decode[admin.User](t, h.call(tok, "GET", "/users/"+root.ID, nil)); got.Role != "admin" || got.Disabled {
		t.Errorf("the last admin after refused changes: %+v", got)
	}
	// A disabled admin does not count.
	other := decode[admin.User](t, h.call(tok, "POST", "/users", admin.NewUser{Username: "other", Role: "admin"}))
	wantStatus(t, "disable the other admin", h.call(tok, "PATCH", "/users/"+other.ID, `{"disabled": true}`), http.StatusOK)
	wantProblem(t, "delete root beside a disabled admin", h.call(tok, "DELETE", "/users/"+root.ID, nil), http.StatusConflict, admin.ProblemConflict)
	wantStatus(t, "enable the other admin", h.call(tok, "PATCH", "/users/"+other.ID, `{"disabled": false}`), http.StatusOK)
	wantStatus(t, "delete root beside an enabled admin", h.call(tok, "DELETE", "/users/"+root.ID, nil), http.StatusNoContent)
	wantProblem(t, "demote the new last admin", h.call(tok, "PATCH", "/users/"+other.ID, `{"role": "member"}`), http.StatusConflict, admin.ProblemConflict)
}

// TestUsersScopes: gatehouse:admin:read reads users and consents but
// changes nothing; a token restricted to an account and a gatehouse:clients
// token get nothing at all.
func TestUsersScopes(t *testing.T) {
	h := newHarness(t)
	_, adminTok := h.admin()
	u := decode[admin.User](t, h.call(adminTok, "POST", "/users", admin.NewUser{Username: "mia", Password: pw}))
	_, readTok := h.apiClient([]string{adminapi.ScopeAdminRead}, nil, adminapi.ScopeAdminRead)
	_, tenantTok := h.apiClient([]string{adminapi.ScopeAdmin}, []string{"acme"}, adminapi.ScopeAdmin+" account:acme")
	_, clientsTok := h.apiClient([]string{adminapi.ScopeClients}, nil, adminapi.ScopeClients)

	reads := []string{"/users", "/users/" + u.ID, "/users?q=mia", "/consents?user=" + u.ID}
	writes := []struct{ method, path, body string }{
		{"POST", "/users", `{"username": "eve", "password": "` + pw + `"}`},
		{"PATCH", "/users/" + u.ID, `{"role": "admin"}`},
		{"DELETE", "/users/" + u.ID, ""},
		{"DELETE", "/consents/" + u.ID + ":app", ""},
	}
	for _, path := range reads {
		wantStatus(t, "admin:read GET "+path, h.call(readTok, "GET", path, nil), http.StatusOK)
		wantStatus(t, "HEAD "+path, h.call(readTok, "HEAD", path, nil), http.StatusOK)
	}
	for _, w := range writes {
		var body any
		if w.body != "" {
			body = w.body
		}
		p := wantProblem(t, "admin:read "+w.method+" "+w.path, h.call(readTok, w.method, w.path, body), http.StatusForbidden, admin.ProblemForbidden)
		if !strings.Contains(p.Detail, adminapi.ScopeAdmin) {
			t.Errorf("admin:read %s %s: detail %q, want it to name %s", w.method, w.path, p.Detail, adminapi.ScopeAdmin)
		}
		for name, tok := range map[string]string{"account-restricted": tenantTok, "gatehouse:clients": clientsTok} {
			wantProblem(t, name+" "+w.method+" "+w.path, h.call(tok, w.method, w.path, body), http.StatusForbidden, admin.ProblemForbidden)
		}
	}
	for _, path := range reads {
		for name, tok := range map[string]string{"account-restricted": tenantTok, "gatehouse:clients": clientsTok} {
			wantProblem(t, name+" GET "+path, h.call(tok, "GET", path, nil), http.StatusForbidden, admin.ProblemForbidden)
		}
	}
	p := wantProblem(t, "no token", h.call("", "GET", "/users", nil), http.StatusUnauthorized, admin.ProblemUnauthorized)
	if p.Detail == "" {
		t.Error("401 without a detail")
	}
	wantProblem(t, "a forged token", h.call("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "GET", "/users", nil), http.StatusUnauthorized, admin.ProblemUnauthorized)
	// The user is as the admin left it.
	if got := decode[admin.User](t, h.call(adminTok, "GET", "/users/"+u.ID, nil)); got.Role != store.RoleMember {
		t.Errorf("user after refused writes: %+v", got)
	}
	if page := decode[admin.Page[admin.User]](t, h.call(adminTok, "GET", "/users", nil)); len(page.Items) != 1 {
		t.Errorf("users after refused writes: %+v; want only mia", page.Items)
	}
}
