package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/jws"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Client authentication with a signed JWT (private_key_jwt): RFC 7523 §2.2
// and §3, RFC 7521 §4.2, OpenID Connect Core §9.

// AssertionTypeJWTBearer is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime bounds how far a client assertion's exp may be ahead
// of its iat and of now: an assertion is for one request, and its jti is
// remembered until it expires.
const MaxAssertionLifetime = 5 * time.Minute

// maxJTILen bounds the jti of an assertion, which is stored.
const maxJTILen = 256

// JWKS URI fetching.
const (
	jwksTTL        = 5 * time.Minute // how long a fetched JWKS is used
	jwksRefetch    = 5 * time.Second // at most one fetch per URI this often (an unknown kid, a failure)
	jwksMaxEntries = 10_000          // URIs remembered; past it, the cache starts afresh
)

// assertionCredentials reports whether the form carries a client assertion
// and checks it is the only credential: no Authorization header, no
// client_secret (RFC 6749 §2.3: one method per request).
func assertionCredentials(r *http.Request, f *form) (bool, error) {
	if !f.Has("client_assertion_type") && !f.Has("client_assertion") {
		return false, nil
	}
	if len(r.Header.Values("Authorization")) > 0 || f.Has("client_secret") {
		return true, oauth.InvalidRequest("client credentials sent in more than one way; use one method")
	}
	if !f.Has("client_assertion") || !f.Has("client_assertion_type") {
		return true, oauth.InvalidRequest("client_assertion and client_assertion_type go together")
	}
	return true, nil
}

// authenticateAssertion authenticates a client with a JWT assertion in the
// form body. Every failure is the same invalid_client (or 429, as for
// secrets); the reason goes to the metrics only.
func (s *Server) authenticateAssertion(r *http.Request, f *form, addr string) (*cachedClient, error) {
	assertion := f.Get("client_assertion")
	id, err := jws.Subject(assertion)
	if err != nil || id == "" || (f.Has("client_id") && f.Get("client_id") != id) {
		// Without a client ID there is nothing to count a failure against
		// but the address.
		s.metrics.authFailures.WithLabelValues("malformed").Inc()
		if id == "" {
			id = f.Get("client_id")
		}
		return nil, s.assertionFailure(addr, id)
	}
	now := s.now()
	attempt, wait, ok := s.limiter.Check(id, addr, now)
	if !ok {
		s.metrics.authFailures.WithLabelValues("rate_limited").Inc()
		return nil, tooManyRequests(wait)
	}
	if err := s.checkFresh(now); err != nil {
		return nil, err
	}
	cc, err := s.clients.get(r.Context(), id)
	if err != nil {
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
		return nil, err
	}
	reason, err := s.verifyAssertion(r, cc, id, f.Get("client_assertion_type"), assertion, now)
	if err != nil {
		return nil, err // the store failed: 503, not the client's fault
	}
	if reason != "" {
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		if wait, limited := attempt.Failure(); limited {
			return nil, tooManyRequests(wait)
		}
		return nil, oauth.InvalidClient("client authentication failed")
	}
	attempt.Success()
	return cc, nil
}

// assertionFailure counts a failure against id (if any) and the source
// address and returns what to answer.
func (s *Server) assertionFailure(addr, id string) error {
	now := s.now()
	attempt, wait, ok := s.limiter.Check(id, addr, now)
	if !ok {
		return tooManyRequests(wait)
	}
	if wait, limited := attempt.Failure(); limited {
		return tooManyRequests(wait)
	}
	return oauth.InvalidClient("client authentication failed")
}

// verifyAssertion checks the assertion of client id (cc; nil if unknown).
// It returns the metrics reason of a refusal, or "" if the assertion is
// good and its jti was new; an error only if the store could not be asked.
func (s *Server) verifyAssertion(r *http.Request, cc *cachedClient, id, typ, assertion string, now time.Time) (string, error) {
	switch {
	case cc == nil:
		return "unknown_client", nil
	case cc.client.TokenEndpointAuthMethod != store.AuthMethodPrivateKeyJWT:
		return "wrong_method", nil
	case typ != AssertionTypeJWTBearer:
		return "bad_assertion", nil
	}
	policy := jws.Policy{
		Issuer:     id, // RFC 7523 §3 item 1: iss is the client ID
		Leeway:     jws.DefaultLeeway,
		Required:   jws.Iss | jws.Sub | jws.Aud | jws.Exp | jws.JTI,
		Algorithms: clients.AssertionAlgorithms,
		Now:        now,
		Type:       jws.TypeJWT,
	}
	keys, err := s.clientKeys(r.Context(), cc, false, now)
	if err != nil {
		s.log.Warn("fetching a client's JWKS failed", "client_id", id, "err", err)
		return "jwks_unavailable", nil
	}
	claims, err := jws.Verify(assertion, keysFunc(keys), policy)
	var je *jws.Error
	if errors.As(err, &je) && je.Reason == jws.UnknownKey && cc.client.JWKSURI != "" {
		// The client may have rotated its keys: fetch its JWKS again (at
		// most every jwksRefetch).
		if keys, ferr := s.clientKeys(r.Context(), cc, true, now); ferr == nil {
			claims, err = jws.Verify(assertion, keysFunc(keys), policy)
		} else {
			s.log.Warn("fetching a client's JWKS failed", "client_id", id, "err", ferr)
		}
	}
	if err != nil {
		return "bad_assertion", nil
	}
	switch {
	case claims.Subject != id: // RFC 7523 §3 item 2
		return "bad_assertion", nil
	case !s.assertionAudience(r, claims.Audience): // RFC 7523 §3 item 3
		return "bad_assertion", nil
	case claims.ExpiresAt.Sub(now) > MaxAssertionLifetime+jws.DefaultLeeway:
		return "bad_assertion", nil
	case !claims.IssuedAt.IsZero() && (claims.ExpiresAt.Sub(claims.IssuedAt) > MaxAssertionLifetime ||
		claims.IssuedAt.After(now.Add(jws.DefaultLeeway))):
		return "bad_assertion", nil
	case len(claims.JTI) > maxJTILen:
		return "bad_assertion", nil
	}
	// RFC 7523 §3 item 7: a jti is accepted once. It is remembered until
	// the assertion expires, leeway included.
	fresh, err := s.st.UseClientAssertionJTI(r.Context(), id, claims.JTI, claims.ExpiresAt.Add(jws.DefaultLeeway), now)
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		return "unknown_client", nil
	case err != nil:
		if r.Context().Err() != nil {
			return "", r.Context().Err()
		}
		return "", fmt.Errorf("record a client assertion: %w", err)
	case !fresh:
		return "replay", nil
	}
	if cc.client.Disabled {
		return "disabled", nil
	}
	return "", nil
}

// assertionAudience reports whether aud names this server: its issuer
// identifier, its token endpoint URL (or an alias), or the URL of the
// endpoint called (introspection, revocation).
func (s *Server) assertionAudience(r *http.Request, aud []string) bool {
	base := strings.TrimSuffix(s.issuer, "/")
	ok := []string{s.issuer, base + PathToken, base + r.URL.Path}
	for _, p := range s.tokenPaths {
		ok = append(ok, base+p)
	}
	for _, a := range aud {
		if slices.Contains(ok, a) {
			return true
		}
	}
	return false
}

func keysFunc(keys []*jws.Key) jws.Keys {
	return func(kid string) *jws.Key {
		for _, k := range keys {
			if k.ID == kid {
				return k
			}
		}
		return nil
	}
}

// clientKeys returns the keys of a private_key_jwt client: its registered
// JWKS, or the one at its JWKS URI, fetched (again, with refetch) as the
// cache allows.
func (s *Server) clientKeys(ctx context.Context, cc *cachedClient, refetch bool, now time.Time) ([]*jws.Key, error) {
	if cc.client.JWKSURI == "" {
		if cc.jwksErr != nil {
			return nil, cc.jwksErr
		}
		return cc.jwks, nil
	}
	return s.clientJWKS.get(ctx, cc.client.JWKSURI, refetch, now)
}

// jwksCache keeps the JWKS fetched from clients' JWKS URIs.
type jwksCache struct {
	fetch *safefetch.Fetcher

	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	mu        sync.Mutex // held during a fetch: one fetch per URI at a time
	keys      []*jws.Key
	err       error     // of the last fetch, if it failed
	fetchedAt time.Time // of the last good fetch
	triedAt   time.Time // of the last fetch
}

// newJWKSCache returns a cache that fetches with f: guarded against
// private addresses, bounded in time and size, refusing redirects.
func newJWKSCache(f *safefetch.Fetcher) *jwksCache {
	return &jwksCache{fetch: f, entries: make(map[string]*jwksEntry)}
}
func (c *jwksCache) get(ctx context.Context, uri string, refetch bool, now time.Time) ([]*jws.Key, error) {
	c.mu.Lock()
	e, ok := c.entries[uri]
	if !ok {
		if len(c.entries) >= jwksMaxEntries {
			c.entries = make(map[string]*jwksEntry)
		}
		e = &jwksEntry{}
		c.entries[uri] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	good := !e.fetchedAt.IsZero() && now.Sub(e.fetchedAt) < jwksTTL
	if (!good || refetch) && (e.triedAt.IsZero() || now.Sub(e.triedAt) >= jwksRefetch) {
		e.triedAt = now
		keys, err := c.fetchKeys(ctx, uri)
		if err != nil {
			e.err = err
		} else {
			e.keys, e.err, e.fetchedAt = keys, nil, now
			good = true
		}
	}
	if !good { // the last good set, if any, is too old to use
		if e.err != nil {
			return nil, e.err
		}
		return nil, errors.New("no JWKS fetched yet")
	}
	return e.keys, nil
}

func (c *jwksCache) fetchKeys(ctx context.Context, uri string) ([]*jws.Key, error) {
	resp, err := c.fetch.GetJSON(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	keys, err := clients.ParseJWKS(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", uri, err)
	}
	return keys, nil
}
