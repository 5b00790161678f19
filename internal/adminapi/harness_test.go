package adminapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

// harness is the whole server in process, as `gatehouse serve` assembles
// it (apitest, with the console, a settable clock and a log to read):
// callers of the API get real access tokens from its token endpoint.
type harness struct {
	t       *testing.T
	srv     *apitest.Server
	st      store.Store
	clk     *testutil.Clock
	clients *clients.Service
	users   *users.Service
	cons    *consents.Service
	url     string               // the issuer
	logs    *testutil.SyncBuffer // every log line of the server, console and API
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clk: testutil.NewClock(time.Now().UTC().Truncate(time.Second)), logs: &testutil.SyncBuffer{}}
	h.srv = apitest.StartWith(t, apitest.Options{Now: h.clk.Now, Console: true,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.st, h.clients, h.users, h.cons, h.url = h.srv.Store, h.srv.Clients, h.srv.Users, h.srv.Consents, h.srv.URL
	return h
}

// apiClient registers a client allowed scopes (and accounts) and returns
// an access token from the token endpoint for the scopes in ask.
func (h *harness) apiClient(scopes, accounts []string, ask string) (clientID, tok string) {
	h.t.Helper()
	id, secret := h.srv.Client(scopes, accounts)
	return id, h.srv.TokenFor(id, secret, ask)
}

// admin returns a token with gatehouse:admin.
func (h *harness) admin() (clientID, tok string) {
	h.t.Helper()
	return h.apiClient([]string{adminapi.ScopeAdmin}, nil, adminapi.ScopeAdmin)
}

type resp struct {
	code int
	hdr  http.Header
	body string
}

func (h *harness) do(req *http.Request) resp {
	h.t.Helper()
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(b)}
}

// call makes an API request with the bearer token; body, if not nil, is
// sent as JSON (a string as it is). hdr adds headers ("Content-Type"
// among them replaces application/json).
func (h *harness) call(tok, method, path string, body any, hdr ...string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+adminapi.Prefix+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

// problemTypes are every problem type the API may answer with.
var problemTypes = []string{
	admin.ProblemInvalid, admin.ProblemMalformed, admin.ProblemUnauthorized, admin.ProblemForbidden,
	admin.ProblemNotFound, admin.ProblemMethod, admin.ProblemConflict, admin.ProblemPrecondition,
	admin.ProblemTooLarge, admin.ProblemUnsupportedType, admin.ProblemIdempotency, admin.ProblemUnavailable,
	admin.ProblemInternal,
}

// wantProblem checks that r is an RFC 9457 problem of the status and type
// and returns it.
func wantProblem(t *testing.T, what string, r resp, status int, typ string) admin.Problem {
	t.Helper()
	var p admin.Problem
	if ct := r.hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json; body %s", what, ct, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("%s: body is not a problem: %v\n%s", what, err, r.body)
	}
	if r.code != status || p.Status != status || p.Type != typ || !slices.Contains(problemTypes, p.Type) || p.Title == "" {
		t.Errorf("%s: got %d %+v, want %d of type %s with a title", what, r.code, p, status, typ)
	}
	return p
}

// wantStatus checks the status of a response that is not a problem.
func wantStatus(t *testing.T, what string, r resp, status int) {
	t.Helper()
	if r.code != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.code, status, r.body)
	}
	if r.code != http.StatusNoContent {
		if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", what, ct)
		}
	}
}

// decode unmarshals r's JSON body.
func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, r.body)
	}
	return v
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
func (h *harness) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// form loads the page at path in browser b and posts the form fields with
// the page's CSRF token to action.
func (h *harness) form(b *http.Client, path, action string, fields url.Values) resp {
	h.t.Helper()
	page := h.fetch(b, "GET", path, nil)
	m := csrfRE.FindStringSubmatch(page.body)
	if page.code != http.StatusOK || m == nil {
		h.t.Fatalf("GET %s: %d without a CSRF token:\n%s", path, page.code, page.body)
	}
	fields.Set("csrf_token", m[1])
	return h.fetch(b, "POST", action, fields)
}

func (h *harness) fetch(b *http.Client, method, path string, form url.Values) resp {
	h.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := b.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, string(body)}
}
