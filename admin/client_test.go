package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/admin"
)

// These tests run the client against a stand-in server that records each
// request and answers as told: what goes on the wire, and what the client
// makes of responses the real server does not send (or not yet).

// seen is a request as the stand-in received it.
type seen struct {
	Method, Path, Query, ContentType, Body string
	IfMatch, IdempotencyKey, Authorization string
}

// standIn serves answer for every request and records them.
type standIn struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

func newStandIn(t *testing.T, answer http.HandlerFunc) (*standIn, *admin.API) {
	s := &standIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), string(b),
			r.Header.Get("If-Match"), r.Header.Get("Idempotency-Key"), r.Header.Get("Authorization")})
		s.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(s.srv.Close)
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "the-token", TokenType: "Bearer"})
	return s, admin.New(s.srv.URL+"/", ts)
}

func (s *standIn) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// replyJSON answers with status and body as application/json.
func replyJSON(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRequests: every method sends the contract's method, path, query,
// content type, body and headers.
func TestRequests(t *testing.T) {
	ctx := context.Background()
	since := time.Date(2026, 12, 1, 9, 30, 0, 123456000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		call func(*admin.API) error
		want seen
	}{
		{"ListClients", func(a *admin.API) error {
			_, err := a.ListClients(ctx, admin.ClientFilter{Q: "bill ing", Account: "acme", Limit: 10, Cursor: "YWJj"})
			return err
		}, seen{Method: "GET", Path: "/admin/v1/clients", Query: "account=acme&cursor=YWJj&limit=10&q=bill+ing"}},
		{"ListClients, no filter", func(a *admin.API) error {
			_, err := a.ListClients(ctx, admin.ClientFilter{})
			return err
		}, seen{Method: "GET", Path: "/admin/v1/clients"}},
		{"CreateClient", func(a *admin.API) error {
			_, err := a.CreateClient(ctx, admin.NewClient{Name: "Billing", TokenTTLSeconds: 60}, admin.IdempotencyKey("k-1"))
			return err
		}, seen{Method: "POST", Path: "/admin/v1/clients", ContentType: "application/json",
			Body: `{"name":"Billing","token_ttl_seconds":60}`, IdempotencyKey: "k-1"}},
		{"CreateClient, no scopes", func(a *admin.API) error {
			_, err := a.CreateClient(ctx, admin.NewClient{Name: "None", Scopes: []string{}})
			return err
		}, seen{Method: "POST", Path: "/admin/v1/clients", ContentType: "application/json", Body: `{"name":"None","scopes":[]}`}},
		{"GetClient", func(a *admin.API) error {
			_, _, err := a.GetClient(ctx, "a/b c")
			return err
		}, seen{Method: "GET", Path: "/admin/v1/clients/a%2Fb%20c"}},
		{"UpdateClient", func(a *admin.API) error {
			_, _, err := a.UpdateClient(ctx, "c1", admin.ClientPatch{Name: ptr("N"), Scopes: ptr([]string{}), Disabled: ptr(false),
				TokenTTLSeconds: ptr(int64(0))}, admin.IfMatch(`"etag-1"`))
			return err
		}, seen{Method: "PATCH", Path: "/admin/v1/clients/c1", ContentType: "application/merge-patch+json",
			Body: `{"name":"N","scopes":[],"token_ttl_seconds":0,"disabled":false}`, IfMatch: `"etag-1"`}},
		{"DeleteClient", func(a *admin.API) error { return a.DeleteClient(ctx, "c1", admin.IfMatch(`"e"`)) },
			seen{Method: "DELETE", Path: "/admin/v1/clients/c1", IfMatch: `"e"`}},
		{"ListSecrets", func(a *admin.API) error {
			_, err := a.ListSecrets(ctx, "c1")
			return err
		}, seen{Method: "GET", Path: "/admin/v1/clients/c1/secrets"}},
		{"RotateSecret", func(a *admin.API) error {
			_, err := a.RotateSecret(ctx, "c1", 24*time.Hour, admin.IdempotencyKey("r-1"))
			return err
		}, seen{Method: "POST", Path: "/admin/v1/clients/c1/secrets", ContentType: "application/json", Body: `{"grace":"24h0m0s"}`, IdempotencyKey: "r-1"}},
		{"RotateSecret, no grace", func(a *admin.API) error {
			_, err := a.RotateSecret(ctx, "c1", 0)
			return err
		}, seen{Method: "POST", Path: "/admin/v1/clients/c1/secrets", ContentType: "application/json", Body: `{"grace":"0s"}`}},
		{"RevokeSecret", func(a *admin.API) error { return a.RevokeSecret(ctx, "c1", "s1") },
			seen{Method: "DELETE", Path: "/admin/v1/clients/c1/secrets/s1"}},
		{"RevokeTokens", func(a *admin.API) error {
			_, err := a.RevokeTokens(ctx, "c1")
			return err
		}, seen{Method: "POST", Path: "/admin/v1/clients/c1/revoke-tokens"}},
		{"ListKeys", func(a *admin.API) error {
			_, err := a.ListKeys(ctx)
			return err
		}, seen{Method: "GET", Path: "/admin/v1/keys"}},
		{"RotateKey", func(a *admin.API) error {
			_, err := a.RotateKey(ctx, true)
			return err
		}, seen{Method: "POST", Path: "/admin/v1/keys/rotate", ContentType: "application/json", Body: `{"now":true}`}},
		{"RotateKey, after the lead time", func(a *admin.API) error {
			_, err := a.RotateKey(ctx, false)
			return err
		}, seen{Method: "POST", Path: "/admin/v1/keys/rotate", ContentType: "application/json", Body: `{"now":false}`}},
		{"ListUsers", func(a *admin.API) error {
			_, err := a.ListUsers(ctx, admin.UserFilter{Q: "ali", Limit: 5, Cursor: "x"})
			return err
		}, seen{Method: "GET", Path: "/admin/v1/users", Query: "cursor=x&limit=5&q=ali"}},
		{"CreateUser", func(a *admin.API) error {
			_, err := a.CreateUser(ctx, admin.NewUser{Username: "alice", Role: "admin"}, admin.IdempotencyKey("u-1"))
			return err
		}, seen{Method: "POST", Path: "/admin/v1/users", ContentType: "application/json",
			Body: `{"username":"alice","role":"admin"}`, IdempotencyKey: "u-1"}},
		{"GetUser", func(a *admin.API) error {
			_, _, err := a.GetUser(ctx, "u1")
			return err
		}, seen{Method: "GET", Path: "/admin/v1/users/u1"}},
		{"UpdateUser", func(a *admin.API) error {
			_, _, err := a.UpdateUser(ctx, "u1", admin.UserPatch{Disabled: ptr(true), Password: ptr("a long new password")}, admin.IfMatch(`"u"`))
			return err
		}, seen{Method: "PATCH", Path: "/admin/v1/users/u1", ContentType: "application/merge-patch+json",
			Body: `{"disabled":true,"password":"a long new password"}`, IfMatch: `"u"`}},
		{"DeleteUser", func(a *admin.API) error { return a.DeleteUser(ctx, "u1") },
			seen{Method: "DELETE", Path: "/admin/v1/users/u1"}},
		{"ListConsents", func(a *admin.API) error {
			_, err := a.ListConsents(ctx, admin.ConsentFilter{User: "u1", Client: "c1", Limit: 2})
			return err
		}, seen{Method: "GET", Path: "/admin/v1/consents", Query: "client=c1&limit=2&user=u1"}},
		{"RevokeConsent", func(a *admin.API) error { return a.RevokeConsent(ctx, "u1:c1") },
			seen{Method: "DELETE", Path: "/admin/v1/consents/u1:c1"}},
		{"ListAudit", func(a *admin.API) error {
			_, err := a.ListAudit(ctx, admin.AuditFilter{Target: "c1", Action: "client.create", Actor: "api:x", Since: since, Limit: 3})
			return err
		}, seen{Method: "GET", Path: "/admin/v1/audit",
			Query: "action=client.create&actor=api%3Ax&limit=3&since=2026-12-01T08%3A30%3A00.123456Z&target=c1"}},
		{"ListScopes", func(a *admin.API) error {
			_, err := a.ListScopes(ctx)
			return err
		}, seen{Method: "GET", Path: "/admin/v1/scopes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, api := newStandIn(t, replyJSON(200, `{"items":[]}`))
			if err := tc.call(api); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got := s.requests()
			tc.want.Authorization = "Bearer the-token"
			if diff := cmp.Diff([]seen{tc.want}, got); diff != "" {
				t.Errorf("%s sent (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestEmptyID: an empty ID is refused before anything is sent (it would
// name the list instead).
func TestEmptyID(t *testing.T) {
	s, api := newStandIn(t, replyJSON(200, `{}`))
	ctx := context.Background()
	for name, err := range map[string]error{
		"GetClient":     func() error { _, _, err := api.GetClient(ctx, ""); return err }(),
		"DeleteClient":  api.DeleteClient(ctx, ""),
		"RevokeSecret":  api.RevokeSecret(ctx, "c1", ""),
		"DeleteUser":    api.DeleteUser(ctx, ""),
		"RevokeConsent": api.RevokeConsent(ctx, ""),
	} {
		if err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("%s with an empty ID: %v, want an error", name, err)
		}
	}
	if _, err := api.RotateSecret(ctx, "c1", -time.Second); err == nil {
		t.Errorf("RotateSecret with a negative grace period: no error")
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

// TestResponses: what the client returns for each kind of response.
func TestResponses(t *testing.T) {
	ctx := context.Background()
	t.Run("ETag", func(t *testing.T) {
		_, api := newStandIn(t, replyJSON(200, `{"client_id":"c1","name":"N"}`, "ETag", `"v2"`))
		c, etag, err := api.GetClient(ctx, "c1")
		if err != nil || c.ClientID != "c1" || etag != `"v2"` {
			t.Errorf("GetClient: %+v, %q, %v; want c1 with ETag \"v2\"", c, etag, err)
		}
		_, etag, err = api.UpdateClient(ctx, "c1", admin.ClientPatch{})
		if err != nil || etag != `"v2"` {
			t.Errorf("UpdateClient: ETag %q, %v; want \"v2\"", etag, err)
		}
	})
	t.Run("no content", func(t *testing.T) {
		_, api := newStandIn(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
		if err := api.DeleteClient(ctx, "c1"); err != nil {
			t.Errorf("DeleteClient answered 204: %v", err)
		}
	})
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
		want   string // in the error
	}{
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>")
		}, `the response is "text/html", not application/json`},
		{"malformed JSON", replyJSON(200, `{"items":`), "decode the response"},
		{"too large", replyJSON(200, `{"items":[`+strings.Repeat(`{"id":"k"},`, 1<<20)+`{}]}`), "larger than 8 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, api := newStandIn(t, tc.answer)
			_, err := api.ListKeys(ctx)
			var p *admin.Problem
			if err == nil || errors.As(err, &p) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "admin: GET /admin/v1/keys: ") {
				t.Errorf("ListKeys: got %v, want an error (not a Problem) about %q", err, tc.want)
			}
		})
	}
}

// TestProblems: every response other than 2xx is a *admin.Problem.
func TestProblems(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
		want   admin.Problem
	}{
		{"problem+json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(422)
			io.WriteString(w, `{"type":"urn:gatehouse:problem:invalid","title":"Unprocessable Entity","status":422,"detail":"2 problems; see errors",`+
				`"errors":[{"detail":"name is required"},{"field":"/scopes/0","detail":"unknown"}]}`)
		}, admin.Problem{Type: admin.ProblemInvalid, Title: "Unprocessable Entity", Status: 422, Detail: "2 problems; see errors",
			Errors: []admin.FieldError{{Detail: "name is required"}, {Field: "/scopes/0", Detail: "unknown"}}}},
		{"the HTTP status wins over the member", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
			w.WriteHeader(409)
			io.WriteString(w, `{"type":"urn:gatehouse:problem:conflict","status":400,"field":"client_id"}`)
		}, admin.Problem{Type: admin.ProblemConflict, Title: "Conflict", Status: 409, Field: "client_id"}},
		{"an HTML error page", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(502)
			io.WriteString(w, "<html>\n\t<body>Bad\x00 gateway</body>\n</html>\n")
		}, admin.Problem{Type: "about:blank", Title: "Bad Gateway", Status: 502,
			Detail: "unexpected text/html response: <html> <body>Bad gateway</body> </html>"}},
		{"a long plain body, cut short", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			io.WriteString(w, strings.Repeat("é", 1<<20))
		}, admin.Problem{Type: "about:blank", Title: "Internal Server Error", Status: 500,
			Detail: "unexpected text/plain response: " + strings.Repeat("é", 100) + "…"}},
		{"no body", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) },
			admin.Problem{Type: "about:blank", Title: "Service Unavailable", Status: 503}},
		{"problem+json that is not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(400)
			io.WriteString(w, `{"type":`)
		}, admin.Problem{Type: "about:blank", Title: "Bad Request", Status: 400, Detail: `unexpected application/problem+json response: {"type":`}},
		{"a redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, admin.Problem{Type: "about:blank", Title: "Temporary Redirect", Status: 307,
			Detail: "redirected to http://127.0.0.1:1/elsewhere, which is not followed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, api := newStandIn(t, tc.answer)
			_, err := api.ListKeys(ctx)
			var p *admin.Problem
			if !errors.As(err, &p) {
				t.Fatalf("ListKeys: got %v (%T), want a *admin.Problem", err, err)
			}
			if diff := cmp.Diff(&tc.want, p); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTokenSource: the token source's failure is returned, and nothing is
// sent without a bearer token.
func TestTokenSource(t *testing.T) {
	s, _ := newStandIn(t, replyJSON(200, `{"items":[]}`))
	ctx := context.Background()
	failing := admin.New(s.srv.URL, tokenSourceFunc(func() (*oauth2.Token, error) { return nil, errors.New("no network") }))
	if _, err := failing.ListKeys(ctx); err == nil || !strings.Contains(err.Error(), "get an access token: no network") {
		t.Errorf("failing token source: %v", err)
	}
	mac := admin.New(s.srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t", TokenType: "MAC"}))
	if _, err := mac.ListKeys(ctx); err == nil || !strings.Contains(err.Error(), "no bearer token") {
		t.Errorf("a MAC token: %v, want a refusal", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// pages answers GET /clients with the pages, chosen by ?cursor= ("" the
// first); a page named "fail" answers 500.
func pages(t *testing.T, ps map[string]admin.Page[admin.Client]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("cursor")
		if cur == "fail" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(500)
			io.WriteString(w, `{"type":"urn:gatehouse:problem:internal","status":500}`)
			return
		}
		p, ok := ps[cur]
		if !ok {
			t.Errorf("request for page %q, which does not exist", cur)
		}
		b, _ := json.Marshal(p)
		replyJSON(200, string(b))(w, r)
	}
}

func page(next string, ids ...string) admin.Page[admin.Client] {
	p := admin.Page[admin.Client]{NextCursor: next, Items: []admin.Client{}}
	for _, id := range ids {
		p.Items = append(p.Items, admin.Client{ClientID: id})
	}
	return p
}

// TestAllClients: the iterator follows next_cursor to the last page, stops
// at an error or when the loop breaks, and at a cursor that repeats.
func TestAllClients(t *testing.T) {
	ctx := context.Background()
	collect := func(api *admin.API, f admin.ClientFilter, max int) (ids []string, errs []error) {
		for c, err := range api.AllClients(ctx, f) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ids = append(ids, c.ClientID)
			if len(ids) == max {
				break
			}
		}
		return ids, errs
	}
	for _, tc := range []struct {
		name     string
		pages    map[string]admin.Page[admin.Client]
		start    string
		max      int
		ids      []string
		queries  []string
		errorHas string
	}{
		{"three pages", map[string]admin.Page[admin.Client]{"": page("p2", "a", "b"), "p2": page("p3", "c", "d"), "p3": page("", "e")},
			"", 0, []string{"a", "b", "c", "d", "e"}, []string{"limit=2&q=x", "cursor=p2&limit=2&q=x", "cursor=p3&limit=2&q=x"}, ""},
		{"from a cursor", map[string]admin.Page[admin.Client]{"p2": page("p3", "c", "d"), "p3": page("", "e")},
			"p2", 0, []string{"c", "d", "e"}, []string{"cursor=p2&limit=2&q=x", "cursor=p3&limit=2&q=x"}, ""},
		{"empty", map[string]admin.Page[admin.Client]{"": page("")}, "", 0, nil, []string{"limit=2&q=x"}, ""},
		{"break", map[string]admin.Page[admin.Client]{"": page("p2", "a", "b"), "p2": page("p3", "c", "d")},
			"", 3, []string{"a", "b", "c"}, []string{"limit=2&q=x", "cursor=p2&limit=2&q=x"}, ""},
		{"an error", map[string]admin.Page[admin.Client]{"": page("fail", "a", "b")},
			"", 0, []string{"a", "b"}, []string{"limit=2&q=x", "cursor=fail&limit=2&q=x"}, "500 Internal Server Error"},
		{"a cursor that repeats", map[string]admin.Page[admin.Client]{"": page("p2", "a"), "p2": page("p2", "b")},
			"", 0, []string{"a", "b"}, []string{"limit=2&q=x", "cursor=p2&limit=2&q=x"}, "same page cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, api := newStandIn(t, pages(t, tc.pages))
			ids, errs := collect(api, admin.ClientFilter{Q: "x", Limit: 2, Cursor: tc.start}, tc.max)
			if !slices.Equal(ids, tc.ids) {
				t.Errorf("items: got %q, want %q", ids, tc.ids)
			}
			var queries []string
			for _, r := range s.requests() {
				queries = append(queries, r.Query)
			}
			if !slices.Equal(queries, tc.queries) {
				t.Errorf("requests: got %q, want %q", queries, tc.queries)
			}
			switch {
			case tc.errorHas == "" && len(errs) > 0:
				t.Errorf("errors: %v, want none", errs)
			case tc.errorHas != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.errorHas)):
				t.Errorf("errors: %v, want one about %q", errs, tc.errorHas)
			}
		})
	}
}
