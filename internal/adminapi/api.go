// Package adminapi serves Gatehouse's admin API: JSON over HTTP under
// /admin/v1/ for managing clients, their secrets, signing keys, users,
// consents and the audit trail from programs, including a platform's own
// "Generate New OAuth Credentials" page for one customer account.
//
// Callers authenticate with Gatehouse's own access tokens, checked by the
// public resource package against the system catalog (system.go): the scope
// gatehouse:admin allows every call, gatehouse:admin:read every GET, and
// gatehouse:clients the clients and their secrets. A token restricted to
// an account (account:<id>) manages only the clients bound to that account
// (see tenant.go). Every error is an RFC 9457 problem (problem.go); lists
// are paged with opaque cursors (page.go); updates honour If-Match (etag.go)
// and creates an Idempotency-Key (idempotency.go). Users and consents
// (users.go, consents.go) are the administrators' alone; a user created
// without a password gets a one-time set-password link to the console.
//
// The wire types are the public package admin's, which is also the Go
// client of this API.
package adminapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// Prefix is where the admin API is mounted.
const Prefix = "/admin/v1"

// maxBody bounds a request body.
const maxBody = 64 << 10

// Options configures the API. Every field but Logger and Now is required.
type Options struct {
	Store    store.Store
	Clients  *clients.Service
	Users    *users.Service
	Consents *consents.Service
	Keys     *token.Keyring
	// Catalog is the API's scope catalog (GET /scopes; the self-service
	// scopes a tenant may give its clients).
	Catalog *scope.Catalog
	// Issuer and Audience are what the access tokens of callers must
	// carry as iss and in aud.
	Issuer, Audience string
	// Server is the authorization server the API is mounted on, set by
	// the time of the first request (it is built with the API's handler).
	// The API's resource guard fetches its metadata and JWKS in process,
	// and every call asks its Live, reading the client fresh from the
	// store, whether the caller's token still stands: not revoked (its ID,
	// or everything issued to its client until some time), its client and
	// user still there and enabled. So disabling or deleting a caller's
	// client cuts it off at its next call; the guard does not poll the
	// revocation feed.
	Server func() *server.Server
	// IdempotencyKey seals the responses kept for retries of a create
	// with the same Idempotency-Key (32 bytes).
	IdempotencyKey []byte
	// Registration issues and revokes initial access tokens for dynamic
	// client registration (/registration/tokens); nil: a service of its
	// own on Store.
	Registration *registration.Service
	// Usage keeps usage per credential (GET /clients/{client}/usage,
	// POST /usage); nil: usage is off, and those routes answer 404.
	Usage *usage.Service

	Logger *slog.Logger
	Now    func() time.Time
}

// API is the admin API's handler.
type API struct {
	o     Options
	log   *slog.Logger
	now   func() time.Time
	guard *resource.Guard
	idem  *idempotency
	reg   *registration.Service
	mux   *http.ServeMux
	// methods are the methods of each path, for 405's Allow.
	methods map[string][]string
}

// New returns the API.
func New(o Options) (*API, error) {
	if o.Store == nil || o.Clients == nil || o.Users == nil || o.Consents == nil || o.Keys == nil ||
		o.Catalog == nil || o.Server == nil {
		return nil, fmt.Errorf("adminapi: Store, Clients, Users, Consents, Keys, Catalog and Server are required")
	}
	a := &API{o: o, log: o.Logger, now: o.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	idem, err := newIdempotency(o.Store, o.IdempotencyKey, a.now)
	if err != nil {
		return nil, err
	}
	a.idem = idem
	if a.reg, err = registrationService(o); err != nil {
		return nil, err
	}
	g, err := resource.New(resource.Config{
		Issuer:         o.Issuer,
		Audience:       o.Audience,
		Catalog:        SystemCatalog(),
		RevocationPoll: -1, // see Options.Revoked
		HTTPClient:     &http.Client{Transport: loopback{func() http.Handler { return o.Server().Handler() }}, Timeout: 10 * time.Second},
		// The API has no account header: a token's account is read from
		// its claims (tenant.go).
		AccountHeader: "X-Gatehouse-Unused-Account",
		WriteError:    a.refused,
		Logger:        a.log,
		Now:           a.now,
	})
	if err != nil {
		return nil, fmt.Errorf("adminapi: %w", err)
	}
	a.guard = g
	a.mux = http.NewServeMux()
	a.routes()
	return a, nil
}

// Close stops the guard's background work.
func (a *API) Close() { a.guard.Close() }

// Handler serves every path under Prefix: the OpenAPI document to anyone,
// everything else to callers the guard lets through.
func (a *API) Handler() http.Handler {
	inner := a.guard.Handler(http.HandlerFunc(a.serveAuthorized))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathOpenAPI { // public, before the guard: see openapi.go
			serveOpenAPI(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		inner.ServeHTTP(w, r)
	})
}

// serveAuthorized runs after the guard accepted the token and its scopes
// allowed the method on the path: it checks that the token still stands,
// then routes.
func (a *API) serveAuthorized(w http.ResponseWriter, r *http.Request) {
	c, _ := resource.ClaimsFrom(r.Context())
	live, err := a.o.Server().Live(r.Context(), server.Token{JTI: c.JTI, ClientID: c.ClientID, Subject: c.Subject,
		IssuedAt: c.IssuedAt, Fresh: true})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !live {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token revoked"`)
		writeProblem(w, &admin.Problem{Type: admin.ProblemUnauthorized, Status: http.StatusUnauthorized,
			Detail: "the access token was revoked, or its client was disabled or deleted"})
		return
	}
	a.mux.ServeHTTP(w, r.WithContext(withCaller(r.Context(), newCaller(c))))
}

// handlerFunc is an API handler: it writes a response or returns an error,
// which becomes a problem.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

// loopback is an http.RoundTripper that serves requests with a handler of
// this process, whatever their host: the guard's fetches of the server's
// own metadata and keys.
type loopback struct{ h func() http.Handler }

func (l loopback) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{header: make(http.Header), status: http.StatusOK}
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:0"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	l.h().ServeHTTP(rec, r)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(strings.NewReader(rec.body.String())),
		ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of a loopback request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}
