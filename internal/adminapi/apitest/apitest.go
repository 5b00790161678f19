// Package apitest runs a real authorization server with the admin API in
// process, for the tests of the API, its Go client and the CLI's remote
// mode: a SQLite store in a temporary directory, the real services, a real
// HTTP listener, and real access tokens from its token endpoint; on
// request (StartWith) also the console, a clock and a logger.
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
)

// ResourceID is a resource (RFC 8707) besides the default one that the
// test server's clients may be allowed, with the catalog
// ResourceCatalogYAML.
const ResourceID = "https://reports.test/api"

// ResourceCatalogYAML is the catalog of ResourceID: "reports:read".
const ResourceCatalogYAML = `reports:read:
  label: Read reports
  endpoints: ["reports/*": GET]
`

// CatalogYAML is the API catalog of the test server: "orders" and
// "reports" are self-service, "orders" is also a default scope.
const CatalogYAML = `scopes:
  orders:
    label: Read and write orders
    endpoints:
      - orders/*
    default: true
    self_service: true
  reports:
    label: Read reports
    endpoints:
      - reports/*: GET
    self_service: true
  billing:
    label: Manage billing
    endpoints:
      - billing/*
`

// Server is a running authorization server with the admin API.
type Server struct {
	URL      string // the issuer, e.g. http://127.0.0.1:41234
	Store    store.Store
	Clients  *clients.Service
	Users    *users.Service
	Consents *consents.Service
	Keys     *token.Keyring
	Catalog  *scope.Catalog
	Server   *server.Server
	API      *adminapi.API
	Console  *console.Console // nil unless Options.Console
	Usage    *usage.Service

	t testing.TB
}

// Options are what StartWith adds to the server Start starts. The zero
// value is Start's.
type Options struct {
	// Now is the clock of every part of the server; nil: time.Now.
	Now func() time.Time
	// Console also serves the console's pages (/console/...), as serve does.
	Console bool
	// Logger receives the log of every part of the server; nil: none.
	Logger *slog.Logger
}

// Start starts a server for the test's duration.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a server with the options for the test's duration.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/gatehouse.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := token.NewKeyring(st, token.Config{MasterKey: master, Now: o.Now, Rand: rand.Reader,
		MaxTokenTTL: 24 * time.Hour, LeadTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	catalog, err := scope.Parse([]byte(CatalogYAML))
	if err != nil {
		t.Fatal(err)
	}
	reports, err := scope.Parse([]byte(ResourceCatalogYAML))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Keys: keys, Catalog: catalog, t: t,
		Clients: clients.NewService(st, catalog, 24*time.Hour, o.Now, rand.Reader, adminapi.SystemScopes()...).
			WithResources([]clients.Resource{{ID: ResourceID, Catalog: reports}}),
		Users:    users.New(users.Options{Store: st, Now: o.Now, Rand: rand.Reader, Password: testutil.CheapPassword()}),
		Consents: consents.New(st, catalog, o.Now),
		Usage:    usage.New(usage.Options{Store: st, Now: o.Now}),
	}
	hs := httptest.NewUnstartedServer(nil)
	s.URL = "http://" + hs.Listener.Addr().String()
	if o.Console {
		if s.Console, err = console.New(console.Options{Store: st, Users: s.Users, Issuer: s.URL, Logger: o.Logger, Now: o.Now,
			Clients: s.Clients, Consents: s.Consents, Keys: keys, Catalog: catalog, SystemScopes: adminapi.SystemCatalog()}); err != nil {
			t.Fatal(err)
		}
	}
	idemKey := make([]byte, 32)
	rand.Read(idemKey)
	s.API, err = adminapi.New(adminapi.Options{
		Store: st, Clients: s.Clients, Users: s.Users, Consents: s.Consents, Keys: keys, Catalog: catalog,
		Issuer: s.URL, Audience: s.URL,
		Server:         func() *server.Server { return s.Server },
		IdempotencyKey: idemKey, Logger: o.Logger, Now: o.Now, Usage: s.Usage,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.API.Close)
	so := server.Options{
		Store: st, Keys: keys, Catalog: catalog, Issuer: s.URL, Audience: s.URL,
		DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour,
		RefreshIdleTTL: 24 * time.Hour, RefreshAbsoluteTTL: 48 * time.Hour,
		PollInterval: 50 * time.Millisecond,
		SystemScopes: adminapi.SystemScopes(), AdminAPI: s.API.Handler(),
		Consents: s.Consents, Logger: o.Logger, Now: o.Now, Rand: rand.Reader, Usage: s.Usage.Tally(),
	}
	if s.Console != nil {
		so.Console, so.ConsolePages = s.Console, s.Console.Register
	}
	s.Server, err = server.New(so)
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = s.Server.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Server.Run(bg); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// Client creates a client allowed scopes (and accounts) and returns its
// credentials.
func (s *Server) Client(scopes, accounts []string) (id, secret string) {
	s.t.Helper()
	c, secret, err := s.Clients.Create(context.Background(), "test", clients.Spec{Name: "caller", Scopes: scopes, Accounts: accounts})
	if err != nil {
		s.t.Fatalf("create client: %v", err)
	}
	return c.ID, secret
}

// Token returns an access token for a new client allowed scopes and
// accounts, requested with the scope string request.
func (s *Server) Token(scopes, accounts []string, request string) string {
	s.t.Helper()
	id, secret := s.Client(scopes, accounts)
	return s.TokenFor(id, secret, request)
}

// TokenFor gets an access token with client credentials.
func (s *Server) TokenFor(id, secret, request string) string {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "scope": {request}}.Encode()))
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		s.t.Fatalf("token for %s (scope %q): %d %s", id, request, resp.StatusCode, body)
	}
	return out.AccessToken
}

// AdminToken returns a gatehouse:admin token.
func (s *Server) AdminToken() string {
	return s.Token([]string{adminapi.ScopeAdmin}, nil, adminapi.ScopeAdmin)
}

// Response is a response read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %d response %s: %v", r.Status, r.Body, err)
	}
}

// Do sends a request to the server with the bearer token (none if ""):
// body is sent as JSON unless it is a string or []byte, sent as it is;
// header is "Name", "value" pairs.
func (s *Server) Do(method, path, tok string, body any, header ...string) Response {
	s.t.Helper()
	var r io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
