// Package console serves Gatehouse's browser pages under /console/: login,
// logout, first-administrator setup and the console home page, and offers
// the session, CSRF and rendering helpers the authorization endpoint's
// login and consent pages use.
//
// Sessions are server-side: the cookie gatehouse_session holds 32 random
// bytes (base64url); the store keeps only their SHA-256 (hex) as the session
// ID. A session ends after SessionIdle without requests (LastSeenAt is
// written at most once a minute), after SessionAbsolute in any case, at
// logout, and when its user is disabled or their password reset.
//
// CSRF: every POST carries a hidden csrf_token field. For a logged-in
// browser it is base64url(HMAC-SHA256(CSRFKey, "session:" + session ID)).
// Before a session exists (login and setup forms) a short-lived pre-session
// cookie gatehouse_csrf holds 32 random bytes and the token is
// base64url(HMAC-SHA256(CSRFKey, "pre:" + SHA-256 of that value)), so a
// cross-site form can neither read nor forge it.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
)

// Cookie names.
const (
	SessionCookie = "gatehouse_session"
	csrfCookie    = "gatehouse_csrf"
)

// Store is what the console needs from the store.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error

	// For the admin and "Authorized apps" pages.
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	consents.Store // for the consents service when Options.Consents is nil
}

// Keys is what the signing keys page needs (a *token.Keyring).
type Keys interface {
	Keys() []token.KeyInfo
	Rotate(ctx context.Context, actor string, immediate bool) (store.SigningKey, error)
}

var _ Keys = (*token.Keyring)(nil)

var _ Store = store.Store(nil)

// Options configures a Console. Store, Users and Issuer are required.
type Options struct {
	Store  Store
	Users  *users.Service
	Issuer string // the server's issuer URL; https makes cookies Secure
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader
	// ClientIP finds the source address that failed logins are counted
	// against; nil: the TCP peer address.
	ClientIP *clientip.Resolver

	SessionIdle     time.Duration // default 2h
	SessionAbsolute time.Duration // default 24h

	// CSRFKey keys the CSRF tokens. Every server sharing a database must
	// use the same key; nil means a random key for this process.
	CSRFKey []byte

	// Clients, Keys and Catalog enable the admin pages for apps and signing
	// keys; without them those pages answer 404. Catalog defaults to
	// scope.Default().
	Clients *clients.Service
	Keys    Keys
	Catalog *scope.Catalog
	// SystemScopes are the admin API's scopes (when it is on), offered on
	// the app form after the catalog's: only administrators reach it.
	SystemScopes *scope.Catalog
	// Resources are the APIs besides the default one (RFC 8707): the app
	// form offers their scopes and a field for the app's resources.
	Resources []consents.Resource

	// Consents lists and revokes the user's consents on the "Authorized
	// apps" page; nil: a service on Store and Catalog.
	Consents *consents.Service

	// APIReference says the server serves the API reference (/docs): the
	// page that shows new credentials links to it with the client ID.
	APIReference bool

	// Usage shows each app's usage on its page; nil: no usage section.
	Usage *usage.Service
	// Quota, if set, tells the app page the app's issuance quotas in
	// force and their use (server.Server.ClientQuotaUsage).
	Quota func(ctx context.Context, c store.Client) (QuotaUsage, error)
}

// QuotaUsage is an app's issuance quotas in force (0: none) and the access
// tokens issued in the current minute and hour.
type QuotaUsage struct {
	PerMinute, PerHour   int
	UsedMinute, UsedHour int64
}

// Console serves the console pages.
type Console struct {
	st     Store
	users  *users.Service
	issuer string
	// apiReference: the server serves /docs (Options.APIReference).
	apiReference bool
	quota        func(context.Context, store.Client) (QuotaUsage, error) // Options.Quota
	secure       bool
	log          *slog.Logger
	now          func() time.Time
	rand         io.Reader
	idle         time.Duration
	absolute     time.Duration
	csrfKey      []byte
	clientIP     *clientip.Resolver
	usage        *usage.Service // nil: usage off
	pages        *pages
	clients      *clients.Service
	keys         Keys
	catalog      *scope.Catalog
	system       *scope.Catalog // the admin API's system scopes; nil: none
	resources    []consents.Resource
	consents     *consents.Service

	tickets ticketStore
}

// New builds a Console and parses every template.
func New(o Options) (*Console, error) {
	if o.Store == nil || o.Users == nil {
		return nil, errors.New("console: Store and Users are required")
	}
	iss, err := url.Parse(o.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("console: issuer %q is not an absolute URL", o.Issuer)
	}
	c := &Console{
		st: o.Store, users: o.Users, issuer: strings.TrimSuffix(o.Issuer, "/"), secure: iss.Scheme == "https",
		log: o.Logger, now: o.Now, rand: o.Rand, idle: o.SessionIdle, absolute: o.SessionAbsolute,
		clientIP: o.ClientIP, quota: o.Quota, usage: o.Usage,
		clients: o.Clients, keys: o.Keys, catalog: o.Catalog, consents: o.Consents, system: o.SystemScopes, resources: o.Resources,
		apiReference: o.APIReference,
	}
	if c.catalog == nil {
		c.catalog = scope.Default()
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.consents == nil {
		c.consents = consents.New(c.st, c.catalog, c.now)
	}
	if c.idle <= 0 {
		c.idle = 2 * time.Hour
	}
	if c.absolute <= 0 {
		c.absolute = 24 * time.Hour
	}
	c.csrfKey = o.CSRFKey
	if len(c.csrfKey) == 0 {
		c.csrfKey = make([]byte, 32)
		if _, err := io.ReadFull(c.rand, c.csrfKey); err != nil {
			return nil, fmt.Errorf("console: CSRF key: %w", err)
		}
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return c, nil
}

// randomToken returns 32 random bytes, base64url without padding.
func (c *Console) randomToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(c.rand, b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// sessionID returns the session ID named by the request's session cookie,
// or "" if it has none that could be one.
func sessionID(r *http.Request) string {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || len(ck.Value) != 43 {
		return ""
	}
	return sha256Hex(ck.Value)
}

// User returns the logged-in user, if any. A session that has expired
// (idle or absolute) or whose user is disabled or gone does not count.
func (c *Console) User(r *http.Request) (store.User, bool) {
	u, ok, _ := c.user(r)
	return u, ok
}

// user is User that also returns an error wrapping store.ErrUnavailable
// when the session could not be checked because the store is unreachable.
func (c *Console) user(r *http.Request) (store.User, bool, error) {
	id := sessionID(r)
	if id == "" {
		return store.User{}, false, nil
	}
	ctx := r.Context()
	s, err := c.st.GetSession(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return store.User{}, false, err
		}
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Error("load session", "err", err)
		}
		return store.User{}, false, nil
	}
	now := c.now()
	if !now.Before(s.ExpiresAt) || !now.Before(s.LastSeenAt.Add(c.idle)) {
		if err := c.st.DeleteSession(ctx, id); err != nil {
			c.log.Error("delete expired session", "err", err)
		}
		return store.User{}, false, nil
	}
	u, err := c.st.GetUser(ctx, s.UserID)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return store.User{}, false, err
		}
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Error("load session user", "err", err)
		}
		return store.User{}, false, nil
	}
	if u.Disabled {
		return store.User{}, false, nil
	}
	if now.Sub(s.LastSeenAt) >= time.Minute {
		if err := c.st.TouchSession(ctx, id, now); err != nil {
			c.log.Error("touch session", "err", err)
		}
	}
	return u, true, nil
}

// RequireUser returns the logged-in user, or redirects the browser to
// /console/login?next=<r.URL.RequestURI()> and returns false.
func (c *Console) RequireUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	u, ok, err := c.user(r)
	if ok {
		return u, true
	}
	if err != nil { // the session may be fine: do not send the user to log in again
		c.serveError(w, r, fmt.Errorf("load session: %w", err))
		return store.User{}, false
	}
	http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return store.User{}, false
}

// startSession creates a session for the user and sets its cookie,
// replacing (and deleting) any session the browser had.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, u store.User) error {
	if old := sessionID(r); old != "" {
		if err := c.st.DeleteSession(r.Context(), old); err != nil {
			return err
		}
	}
	v, err := c.randomToken()
	if err != nil {
		return err
	}
	now := c.now().UTC()
	if err := c.st.CreateSession(r.Context(), store.Session{
		ID: sha256Hex(v), UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(c.absolute),
	}); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, c.cookie(SessionCookie, v, 0))
	http.SetCookie(w, c.cookie(csrfCookie, "", -1))
	return nil
}

// cookie returns a cookie with the console's attributes. maxAge 0 means a
// browser-session cookie; negative deletes it.
func (c *Console) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	}
}

// CSRFToken returns the CSRF token for forms on this request's page (the
// hidden field "csrf_token"): the session's token, or before login the
// pre-session cookie's; "" if the browser has neither cookie.
func (c *Console) CSRFToken(r *http.Request) string {
	src := csrfSource(r)
	if src == "" {
		return ""
	}
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write([]byte(src))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func csrfSource(r *http.Request) string {
	if id := sessionID(r); id != "" {
		return "session:" + id
	}
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 43 {
		return "pre:" + sha256Hex(ck.Value)
	}
	return ""
}

// ErrCSRF is returned by CheckCSRF for a missing or wrong token.
var ErrCSRF = errors.New("missing or invalid CSRF token")

// CheckCSRF compares the form field "csrf_token" (call it after ParseForm)
// in constant time with the token for this request's cookies.
func (c *Console) CheckCSRF(r *http.Request) error {
	want := c.CSRFToken(r)
	got := r.PostForm.Get("csrf_token")
	if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return ErrCSRF
	}
	return nil
}

// ensureCSRFCookie gives a browser without a session or pre-session cookie
// a pre-session cookie, and adds it to r so that CSRFToken(r) sees it.
func (c *Console) ensureCSRFCookie(w http.ResponseWriter, r *http.Request) error {
	if csrfSource(r) != "" {
		return nil
	}
	v, err := c.randomToken()
	if err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(csrfCookie, v, int(time.Hour/time.Second)))
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return nil
}

// SetupLink stores a new one-time link that creates the first
// administrator and returns it, or returns "" if an administrator already
// exists. The link works on every server sharing the database, for
// users.SetupValidity or until an administrator exists; links made earlier
// stay valid as long.
func (c *Console) SetupLink(ctx context.Context) (string, error) {
	tok, err := c.users.IssueSetupToken(ctx)
	if err != nil || tok == "" {
		return "", err
	}
	return c.issuer + "/console/setup?token=" + tok, nil
}

// SafeNext returns next if it is a path on this server ("/..." but not
// "//..." nor anything a browser could read as another origin), else "".
func SafeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return ""
	}
	for i := 0; i < len(next); i++ {
		// Browsers treat "\" like "/" and drop tabs and newlines, so
		// "/\evil.example" and "/\t/evil.example" lead elsewhere.
		if b := next[i]; b == '\\' || b < 0x20 || b == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	return next
}
