package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/scope"
)

// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
// used by the MCP authorization specification): a client_id that is an
// https URL names a JSON document of client metadata (RFC 7591 names) that
// the server fetches, validates and caches. Such a client is public (PKCE
// required) or private_key_jwt with the keys its document publishes; it
// may use the authorization code grant (and refresh tokens) with the
// redirect URIs its document lists, matched exactly, and the scopes the
// catalogs mark self_service, with the resources whose catalogs offer them
// (clients.SelfService, the rule of open registration too). It is stored
// like any other client (consents, codes and refresh tokens refer to it),
// written from the document by clients.SyncMetadataDocumentClient whenever
// a fetch finds it changed; an administrator may disable it.

// ClientMetadataOptions configures client ID metadata documents.
type ClientMetadataOptions struct {
	// Enabled accepts client IDs that are https URLs (http to a loopback
	// host too, when Options.Fetch.AllowLoopback) and advertises
	// client_id_metadata_document_supported.
	Enabled bool
	// MinCacheTTL and MaxCacheTTL bound how long a fetched document is
	// used, whatever its Cache-Control or Expires says; 0: 5m and 24h.
	MinCacheTTL, MaxCacheTTL time.Duration
}

// Limits of client ID metadata documents.
const (
	// MaxClientMetadataSize bounds a document. The draft recommends reading
	// at most 5 KB; this leaves room for an inline JWKS.
	MaxClientMetadataSize = 8 << 10
	maxClientIDURLLen     = 2000
	maxDocRedirectURIs    = 20
	maxDocClientName      = 200
	docFailureTTL         = 10 * time.Second // a failing URL is not fetched again sooner
	docMaxEntries         = 10_000
	defaultDocMinTTL      = 5 * time.Minute
	defaultDocMaxTTL      = 24 * time.Hour
)

// docError is why a client ID metadata document was not accepted, in words
// for the person at the authorization endpoint and the log.
type docError struct{ msg string }

func (e *docError) Error() string { return e.msg }

func docErrorf(format string, args ...any) error { return &docError{fmt.Sprintf(format, args...)} }

// clientDocs fetches, validates and caches client ID metadata documents
// and keeps their clients in the store.
type clientDocs struct {
	fetch          *safefetch.Fetcher
	st             store.Store
	self           *clients.SelfService // what such a client may be allowed
	now            func() time.Time
	log            *slog.Logger
	minTTL, maxTTL time.Duration
	fetched        *prometheus.CounterVec // by result: ok, invalid, failed; nil in unit tests

	mu      sync.Mutex
	entries map[string]*docEntry
}

type docEntry struct {
	mu      sync.Mutex // held during a fetch: one fetch per URL at a time
	err     error      // of the last fetch, if it failed
	until   time.Time  // the document (in the store) is current until then
	retryAt time.Time  // after a failure: no fetch before then
}

func newClientDocs(o Options, st store.Store, cat *scope.Catalog, now func() time.Time, log *slog.Logger) *clientDocs {
	fo := o.Fetch
	fo.MaxBytes = MaxClientMetadataSize
	rs := make([]clients.Resource, len(o.Resources))
	for i, r := range o.Resources {
		rs[i] = clients.Resource{ID: r.ID, Catalog: r.Catalog}
	}
	d := &clientDocs{
		fetch: safefetch.New(fo), st: st, self: clients.NewSelfService(cat, rs), now: now, log: log,
		minTTL: o.ClientMetadata.MinCacheTTL, maxTTL: o.ClientMetadata.MaxCacheTTL,
		entries: make(map[string]*docEntry),
	}
	if d.minTTL <= 0 {
		d.minTTL = defaultDocMinTTL
	}
	if d.maxTTL <= 0 {
		d.maxTTL = defaultDocMaxTTL
	}
	d.maxTTL = max(d.maxTTL, d.minTTL)
	return d
}

// registerDocFetches registers gatehouse_client_metadata_fetches_total.
func (m *metrics) registerDocFetches() (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_client_metadata_fetches_total",
		Help: "Fetches of client ID metadata documents, by result: ok, invalid (fetched but refused), failed (not fetched).",
	}, []string{"result"})
	if err := m.reg.Register(c); err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	return c, nil
}

func (d *clientDocs) count(result string) {
	if d.fetched != nil {
		d.fetched.WithLabelValues(result).Inc()
	}
}

// documentClient is the client cache's hook for a client ID that is a
// metadata document URL: it makes sure the stored client reflects a
// current document, fetching it as the cache allows. It reports false if
// the client is to be treated as unknown (the feature is off, or the
// document cannot be had or is invalid), and an error only if the store
// failed.
func (c *clientCache) documentClient(ctx context.Context, id string) (bool, error) {
	if c.docs == nil {
		return false, nil
	}
	changed, err := c.docs.ensure(ctx, id)
	var de *docError
	switch {
	case errors.As(err, &de):
		return false, nil
	case err != nil:
		return false, err
	case changed:
		c.invalidate(id)
	}
	return true, nil
}

// checkClientDocument is the authorization endpoint's hook: for a client
// ID that is a metadata document URL it returns the error page that says
// why the client cannot be used, if it cannot; nil otherwise.
func (s *Server) checkClientDocument(ctx context.Context, id string) error {
	if !clients.IsMetadataDocumentID(id) {
		return nil
	}
	if s.clients.docs == nil {
		return pageError(http.StatusBadRequest, "This server does not accept client IDs that are URLs (client ID metadata documents).")
	}
	changed, err := s.clients.docs.ensure(ctx, id)
	var de *docError
	if errors.As(err, &de) {
		return pageError(http.StatusBadRequest, "The application's client ID metadata document cannot be used: "+de.msg+".")
	}
	if changed {
		s.clients.invalidate(id)
	}
	return err
}

// documentHost is the host (and port) of a client ID that is a metadata
// document URL, shown on the consent page; "" for other client IDs.
func documentHost(id string) string {
	if !clients.IsMetadataDocumentID(id) {
		return ""
	}
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	return u.Host
}

// ensure makes the stored client id reflect its current metadata
// document: from the cache, or fetched and written to the store if it
// changed. It reports whether the store was written. A *docError says
// why the document is not acceptable; another error is the store's.
func (d *clientDocs) ensure(ctx context.Context, id string) (bool, error) {
	if err := d.checkURL(id); err != nil {
		return false, err
	}
	d.mu.Lock()
	e, ok := d.entries[id]
	if !ok {
		if len(d.entries) >= docMaxEntries {
			d.prune()
		}
		e = &docEntry{}
		d.entries[id] = e
	}
	d.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := d.now()
	switch {
	case e.err == nil && now.Before(e.until):
		return false, nil
	case e.err != nil && now.Before(e.retryAt):
		return false, e.err
	}
	// Fetch without the caller's cancellation: waiters share the result.
	fctx := context.WithoutCancel(ctx)
	c, ttl, err := d.load(fctx, id, now)
	if err != nil {
		var de *docError
		if errors.As(err, &de) {
			d.log.Info("client ID metadata document refused", "client_id", id, "reason", de.msg)
			e.err, e.until, e.retryAt = err, time.Time{}, now.Add(docFailureTTL)
		}
		return false, err
	}
	changed, err := clients.SyncMetadataDocumentClient(fctx, d.st, c, now)
	if err != nil {
		return false, err
	}
	e.err, e.until = nil, now.Add(ttl)
	return changed, nil
}

// prune drops expired and failed entries, or all if none is. d.mu is held.
func (d *clientDocs) prune() {
	now := d.now()
	for id, e := range d.entries {
		if e.mu.TryLock() {
			if e.err != nil || !now.Before(e.until) {
				delete(d.entries, id)
			}
			e.mu.Unlock()
		}
	}
	if len(d.entries) >= docMaxEntries {
		d.entries = make(map[string]*docEntry)
	}
}

// checkURL checks a client ID against the draft's rules for a client
// identifier URL (§3): https (http only to a loopback host, when allowed),
// a path, no dot segments, no fragment, no user information.
func (d *clientDocs) checkURL(id string) error {
	if len(id) > maxClientIDURLLen {
		return docErrorf("the client ID is longer than %d characters", maxClientIDURLLen)
	}
	u, err := url.Parse(id)
	switch {
	case err != nil:
		return docErrorf("the client ID is not a valid URL")
	case u.Fragment != "" || strings.Contains(id, "#"):
		return docErrorf("the client ID URL has a fragment")
	case u.User != nil:
		return docErrorf("the client ID URL has user information")
	case u.Path == "":
		return docErrorf("the client ID URL has no path")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") ||
			strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
			return docErrorf("the client ID URL has a dot segment")
		}
	}
	if err := d.fetch.CheckURL(id); err != nil {
		return docErrorf("the client ID URL must be https")
	}
	return nil
}

// clientDocument is the part of a client ID metadata document the server
// reads (RFC 7591 §2 names); other members are ignored.
type clientDocument struct {
	ClientID                string          `json:"client_id"`
	ClientName              *string         `json:"client_name"`
	ClientURI               string          `json:"client_uri"`
	LogoURI                 string          `json:"logo_uri"`
	RedirectURIs            []string        `json:"redirect_uris"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 string          `json:"jwks_uri"`
	Scope                   string          `json:"scope"`
	ClientSecret            json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
}

// load fetches and validates id's document and returns its client and how
// long to use it.
func (d *clientDocs) load(ctx context.Context, id string, now time.Time) (store.Client, time.Duration, error) {
	resp, err := d.fetch.GetJSON(ctx, id, "application/json")
	if err != nil {
		d.count("failed")
		var fe *safefetch.Error
		if errors.As(err, &fe) {
			return store.Client{}, 0, docErrorf("fetching it failed: %s", fe.Reason)
		}
		return store.Client{}, 0, docErrorf("fetching it failed")
	}
	c, err := d.parse(id, resp.Body)
	if err != nil {
		d.count("invalid")
		return store.Client{}, 0, err
	}
	d.count("ok")
	return c, cacheTTL(resp.Header, now, d.minTTL, d.maxTTL), nil
}

// parse validates a client ID metadata document fetched from id (draft
// §4) and returns the client it describes.
func (d *clientDocs) parse(id string, body []byte) (store.Client, error) {
	var doc clientDocument
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return store.Client{}, docErrorf("it is not a JSON object of client metadata")
	}
	if dec.More() {
		return store.Client{}, docErrorf("it has more than one JSON value")
	}
	c := store.Client{ID: id, Description: clients.DescriptionMetadataDocument}
	switch {
	case doc.ClientID != id: // simple string comparison, RFC 3986 §6.2.1
		return c, docErrorf("its client_id is not exactly the URL it was fetched from")
	case doc.ClientSecret != nil || doc.ClientSecretExpiresAt != nil:
		return c, docErrorf("it has a client_secret; a metadata document cannot carry a shared secret")
	}
	switch m := doc.TokenEndpointAuthMethod; m {
	case "", store.AuthMethodNone:
		// A document cannot hold a secret, so RFC 7591's default
		// (client_secret_basic) cannot apply: absent means none.
		c.TokenEndpointAuthMethod = store.AuthMethodNone
		if doc.JWKS != nil || doc.JWKSURI != "" {
			return c, docErrorf("jwks and jwks_uri are only for token_endpoint_auth_method private_key_jwt")
		}
	case store.AuthMethodPrivateKeyJWT:
		c.TokenEndpointAuthMethod = m
		switch {
		case doc.JWKS != nil && doc.JWKSURI != "":
			return c, docErrorf("it has both jwks and jwks_uri; give one")
		case doc.JWKS != nil:
			if _, err := clients.ParseJWKS(doc.JWKS); err != nil {
				return c, docErrorf("its jwks: %v", err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, doc.JWKS); err != nil {
				return c, docErrorf("its jwks is not JSON")
			}
			c.JWKS = buf.String()
		case doc.JWKSURI != "":
			if err := d.fetch.CheckURL(doc.JWKSURI); err != nil || len(doc.JWKSURI) > 2000 {
				return c, docErrorf("its jwks_uri must be an https URL")
			}
			c.JWKSURI = doc.JWKSURI
		default:
			return c, docErrorf("private_key_jwt needs the client's public keys: jwks or jwks_uri")
		}
	default:
		return c, docErrorf("token_endpoint_auth_method %q is not accepted; use none or private_key_jwt", safeName(m))
	}

	c.GrantTypes = doc.GrantTypes
	if c.GrantTypes == nil {
		c.GrantTypes = []string{store.GrantAuthorizationCode}
	}
	for _, g := range c.GrantTypes {
		if g != store.GrantAuthorizationCode && g != store.GrantRefreshToken {
			return c, docErrorf("grant type %q is not accepted; use authorization_code and refresh_token", safeName(g))
		}
	}
	c.GrantTypes = dedupe(c.GrantTypes)
	if !slices.Contains(c.GrantTypes, store.GrantAuthorizationCode) {
		return c, docErrorf("its grant_types must include authorization_code")
	}
	for _, rt := range doc.ResponseTypes {
		if rt != "code" {
			return c, docErrorf("response type %q is not accepted; use code", safeName(rt))
		}
	}

	switch n := len(doc.RedirectURIs); {
	case n == 0:
		return c, docErrorf("it has no redirect_uris")
	case n > maxDocRedirectURIs:
		return c, docErrorf("it has %d redirect_uris; at most %d are accepted", n, maxDocRedirectURIs)
	}
	for _, u := range doc.RedirectURIs {
		if err := clients.CheckRedirectURI(u); err != nil {
			return c, docErrorf("%v", err)
		}
	}
	c.RedirectURIs = dedupe(doc.RedirectURIs)

	u, _ := url.Parse(id) // checked by checkURL
	c.Name = u.Host
	if doc.ClientName != nil {
		name := strings.TrimSpace(*doc.ClientName)
		switch {
		case name == "":
		case len(name) > maxDocClientName:
			return c, docErrorf("its client_name is longer than %d characters", maxDocClientName)
		case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
			return c, docErrorf("its client_name has control characters")
		default:
			c.Name = name
		}
	}
	for _, f := range []struct{ name, v string }{{"client_uri", doc.ClientURI}, {"logo_uri", doc.LogoURI}} {
		if f.v == "" {
			continue
		}
		if pu, err := url.Parse(f.v); err != nil || len(f.v) > 2000 || pu.User != nil || pu.Host == "" ||
			(pu.Scheme != "https" && !(pu.Scheme == "http" && safefetch.IsLoopbackHost(pu.Hostname()))) {
			return c, docErrorf("its %s must be an https URL", f.name)
		}
	}
	c.Website = doc.ClientURI

	// The self-service scopes, narrowed to the document's scope if it
	// names any, and the resources that offer them.
	if doc.Scope == "" {
		c.Scopes = d.self.Scopes()
	} else {
		toks, err := scope.Split(doc.Scope)
		if err != nil {
			return c, docErrorf("its scope: %v", err)
		}
		for _, t := range toks {
			if d.self.Has(t) && !slices.Contains(c.Scopes, t) {
				c.Scopes = append(c.Scopes, t)
			}
		}
	}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	c.Resources = d.self.Resources(c.Scopes)
	return c, nil
}

// cacheTTL is how long a document may be used according to its response's
// Cache-Control (max-age, less Age) or Expires (less Date) (RFC 9111
// §4.2.1), bounded by lo and hi; no-store and no-cache give lo.
func cacheTTL(h http.Header, now time.Time, lo, hi time.Duration) time.Duration {
	ttl, found := time.Duration(0), false
	for _, dir := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return lo
		case "max-age":
			if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
				ttl, found = time.Duration(min(n, int64(hi/time.Second)+1))*time.Second, true
			}
		}
	}
	if found {
		if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
			ttl -= time.Duration(min(age, int64(hi/time.Second)+1)) * time.Second
		}
	} else if exp, err := http.ParseTime(h.Get("Expires")); err == nil {
		base := now
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			base = date
		}
		ttl = exp.Sub(base)
	}
	return min(max(ttl, lo), hi)
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
