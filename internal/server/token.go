package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readForm reads and strictly parses an application/x-www-form-urlencoded
// request body of at most maxBody bytes.
func readForm(r *http.Request, f *form) error {
	if !isFormContentType(r.Header.Get("Content-Type")) {
		return oauth.InvalidRequest("Content-Type must be application/x-www-form-urlencoded")
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 8<<10 {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return oauth.InvalidRequest("request body exceeds %d KiB", maxBody>>10)
		}
		return oauth.InvalidRequest("reading request body: %v", err)
	}
	return parseForm(buf.Bytes(), f)
}

// token is the token endpoint (RFC 6749 §3.2). It authenticates the client,
// checks the grant type and scope, runs the grant and mints the token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	var f form
	if err := readForm(r, &f); err != nil {
		return err
	}
	proof, err := s.tokenProof(w, r) // DPoP (RFC 9449 §5): dpop.go
	if err != nil {
		return err
	}
	if q := r.URL.RawQuery; q != "" && strings.Contains(q, "client_secret") {
		return oauth.InvalidRequest("client credentials must not be sent in the URL (RFC 6749 §2.3.1)")
	}
	gt := f.Get("grant_type")
	if gt == "" {
		return oauth.InvalidRequest("missing grant_type parameter")
	}
	g, ok := s.grants[gt]
	if !ok {
		return oauth.UnsupportedGrantType("grant type %q is not supported", safeName(gt))
	}
	// Public clients (no secret) may only redeem codes and refresh tokens.
	public := gt == store.GrantAuthorizationCode || gt == store.GrantRefreshToken
	addr := s.clientIP.Addr(r)
	cc, err := s.authenticateClient(r, &f, addr, public)
	if err != nil {
		return err
	}
	c := &cc.client
	if !slices.Contains(c.GrantTypes, gt) {
		return oauth.UnauthorizedClient("this client may not use the %s grant", gt)
	}
	jkt, err := s.bindProof(c, proof) // DPoP: dpop.go
	if err != nil {
		return err
	}
	// Resource indicators (RFC 8707, resources.go): the resource parameter
	// names one resource the client may use; the scopes are those of its
	// catalog.
	requested, target, err := s.tokenTarget(cc, &f)
	if err != nil {
		return err
	}
	var scopes []string
	var account string
	if gt != store.GrantAuthorizationCode { // a code carries its scope
		// A refresh narrows what its refresh token carries, account included.
		v := cc.defaultView()
		switch {
		case target != nil:
			v = s.view(cc, []*Resource{target})
		case requested == "" && len(c.Resources) > 0 && gt == store.GrantRefreshToken:
			// A refresh naming no resource may be for any the client has.
			v = s.view(cc, s.clientResources(cc))
		}
		if scopes, account, err = s.resolveScope(cc, &v, f.Get("scope"), gt == store.GrantRefreshToken); err != nil {
			return err
		}
	}
	// The token reuse window (reuse.go), then the issuance quota (quota.go).
	now := s.now()
	var rk reuseKey
	reusable := s.reuse.reusable(cc, gt)
	if reusable {
		rk = reuseKey{client: c.ID, scope: scope.Join(scopes), account: account, resource: requested, jkt: jkt, named: f.Has("scope")}
		if e := s.reuseGet(rk, cc, now); e != nil {
			s.usage.clientUsed(cc, now)
			return writeTokenResponse(w, e.token, tokenType(jkt), int64(e.exp.Sub(now)/time.Second), e.scope, "")
		}
	}
	if err := s.checkQuota(r.Context(), cc, now); err != nil {
		return err
	}
	issued := false
	defer func() {
		if !issued {
			s.quota.give(c, now)
		}
	}()
	res, err := g.Issue(r.Context(), &grant.Request{Client: c, Params: &f, Scopes: scopes, AccountID: account,
		Resource: requested, DefaultResource: s.defaultResourceID(cc), DPoPJKT: jkt})
	if err != nil {
		return err
	}
	scopeStr := cc.defaultScope
	if len(res.Resources) > 0 { // the grant covers resources: its scopes are narrowed to the token's
		if target, err = s.targetResource(cc, res.Resource); err != nil {
			return err
		}
		if res.Scopes, err = s.scopesFor(cc, target, res.Scopes); err != nil {
			return err
		}
		scopeStr = scope.Join(res.Scopes)
	} else if f.Has("scope") || !slices.Equal(res.Scopes, cc.defaultScopes) || target != nil {
		scopeStr = scope.Join(res.Scopes)
	}
	tr := s.issueFor(cc, target)
	ttl, aud := tr.ttl, tr.audience
	jti, err := token.NewJTI(s.rand)
	if err != nil {
		return err
	}
	at, err := s.keys.Sign(&token.Claims{
		Issuer:    s.issuer,
		Subject:   res.Subject,
		Audience:  aud,
		ClientID:  c.ID,
		Scope:     scopeStr,
		AccountID: res.AccountID,
		JTI:       jti,
		JKT:       jkt,
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: now.Add(ttl),
	})
	if err != nil {
		return err
	}
	if res.Issued != nil {
		if err := res.Issued(r.Context(), jti, now.Add(ttl)); err != nil {
			return err
		}
	}
	issued = true // counted against the quota, and kept for reuse
	if reusable && res.RefreshToken == "" {
		s.reuse.put(&reuseEntry{key: rk, cc: cc, token: at, scope: scopeStr, jti: jti, iat: now, exp: now.Add(ttl)})
	}
	s.metrics.tokens.WithLabelValues(gt).Inc()
	s.usage.clientUsed(cc, now)
	s.issued(c.ID, addr, now) // usage.go
	return writeTokenResponse(w, at, tokenType(jkt), int64(ttl/time.Second), scopeStr, res.RefreshToken)
}

// writeTokenResponse writes the RFC 6749 §5.1 response without reflection.
// The tokens are base64url and dots, and scope-tokens exclude '"' and '\'
// (RFC 6749 §3.3), so none needs escaping.
func writeTokenResponse(w http.ResponseWriter, accessToken, tokenType string, expiresIn int64, scopeStr, refreshToken string) error {
	b := make([]byte, 0, len(accessToken)+len(scopeStr)+len(refreshToken)+128)
	b = append(b, `{"access_token":"`...)
	b = append(b, accessToken...)
	b = append(b, `","token_type":"`...)
	b = append(b, tokenType...)
	b = append(b, `","expires_in":`...)
	b = strconv.AppendInt(b, expiresIn, 10)
	if scopeStr != "" {
		b = append(b, `,"scope":"`...)
		b = append(b, scopeStr...)
		b = append(b, '"')
	}
	if refreshToken != "" {
		b = append(b, `,"refresh_token":"`...)
		b = append(b, refreshToken...)
		b = append(b, '"')
	}
	b = append(b, '}')
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["Pragma"] = []string{"no-cache"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	_, err := w.Write(b)
	return err
}

// authenticate identifies and verifies the calling client from HTTP Basic
// (client_secret_basic) or body parameters (client_secret_post), RFC 6749
// §2.3.1, or a JWT client assertion in the body (private_key_jwt, RFC 7523
// §2.2). Unknown clients, wrong secrets or assertions and disabled clients
// get the same answer. Failures are rate-limited. Public clients are
// refused.
func (s *Server) authenticate(r *http.Request, f *form) (*cachedClient, error) {
	return s.authenticateClient(r, f, s.clientIP.Addr(r), false)
}

// authenticateClient is authenticate that, with allowPublic, also accepts a
// public client (token endpoint auth method none) identified by client_id in
// the body with no secret (RFC 6749 §2.1, §3.2.1).
func (s *Server) authenticateClient(r *http.Request, f *form, addr string, allowPublic bool) (*cachedClient, error) {
	if ok, err := assertionCredentials(r, f); err != nil {
		s.metrics.authFailures.WithLabelValues("malformed").Inc()
		return nil, err
	} else if ok {
		return s.authenticateAssertion(r, f, addr)
	}
	hdr, err := authorizationHeader(r.Header)
	if err != nil {
		s.metrics.authFailures.WithLabelValues("malformed").Inc()
		return nil, err
	}
	id, secret, altSecret, basic, err := basicCredentials(hdr)
	if err != nil {
		s.metrics.authFailures.WithLabelValues("malformed").Inc()
		return nil, err
	}
	postID, postSecret := f.Get("client_id"), f.Get("client_secret")
	switch {
	case basic && postSecret != "":
		return nil, oauth.InvalidRequest("client credentials sent both in the Authorization header and in the body; use one method")
	case basic && postID != "" && postID != id:
		return nil, oauth.InvalidRequest("client_id in the body does not match the Authorization header")
	case !basic:
		if postID == "" {
			s.metrics.authFailures.WithLabelValues("missing").Inc()
			return nil, oauth.InvalidClient("client authentication required: use HTTP Basic or client_id and client_secret in the body")
		}
		id, secret = postID, postSecret
	}

	now := s.now()
	attempt, wait, ok := s.limiter.Check(id, addr, now)
	if !ok { // over the limit: the secret is not even checked
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
		return nil, err // store.ErrUnavailable: 503 (see writeError)
	}
	if allowPublic && !basic && secret == "" && cc != nil &&
		cc.client.TokenEndpointAuthMethod == store.AuthMethodNone && !cc.client.Disabled {
		attempt.Success()
		return cc, nil
	}
	// One attempt, however many forms of the secret are checked.
	sec := cc.verify(secret, altSecret, now)
	if sec == nil && cc != nil {
		cc, sec = s.recheckSecret(r, id, cc, secret, altSecret, now)
	}
	if sec == nil || cc.client.Disabled {
		reason := "bad_secret"
		switch {
		case cc == nil:
			reason = "unknown_client"
		case cc.client.Disabled && sec != nil:
			reason = "disabled"
		}
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		if wait, limited := attempt.Failure(); limited {
			return nil, tooManyRequests(wait)
		}
		return nil, oauth.InvalidClient("client authentication failed")
	}
	attempt.Success()
	s.usage.used(sec, now)
	return cc, nil
}

// recheckSecret checks a secret that cc, the cached client, did not accept
// against the client as stored: it may have been added or rotated by another
// process moments ago, before the change feed said so. The reload is
// rate-limited per client (see clientCache.reload); on failure cc stands.
// It returns the client to go on with and the matching secret, if any.
func (s *Server) recheckSecret(r *http.Request, id string, cc *cachedClient, secret, altSecret string, now time.Time) (*cachedClient, *cachedSecret) {
	fresh, err := s.clients.reload(r.Context(), id, cc, now)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Warn("re-checking a client secret against the store failed", "client_id", id, "err", err)
		}
		return cc, nil
	}
	if fresh == cc {
		return cc, nil
	}
	return fresh, fresh.verify(secret, altSecret, now)
}

// dummyDigest is compared against when the client is unknown, so that the
// work done does not reveal whether a client ID exists.
var dummyDigest = make([]byte, sha256.Size)

// verify returns the client's unexpired secret that matches secret or, if
// it is not "", alt (the other form of a Basic secret, see
// basicCredentials), or nil. Every candidate is compared in constant time
// against every form. cc may be nil (unknown client).
func (cc *cachedClient) verify(secret, alt string, now time.Time) *cachedSecret {
	d := sha256.Sum256([]byte(secret))
	var da [sha256.Size]byte
	if alt != "" {
		da = sha256.Sum256([]byte(alt))
	}
	if cc == nil {
		subtle.ConstantTimeCompare(d[:], dummyDigest)
		if alt != "" {
			subtle.ConstantTimeCompare(da[:], dummyDigest)
		}
		return nil
	}
	var match *cachedSecret
	for i := range cc.secrets {
		cs := &cc.secrets[i]
		eq := subtle.ConstantTimeCompare(d[:], cs.digest)
		if alt != "" {
			eq |= subtle.ConstantTimeCompare(da[:], cs.digest)
		}
		if eq == 1 && (cs.expiresAt.IsZero() || now.Before(cs.expiresAt)) {
			match = cs
		}
	}
	return match
}

// resolveScope checks a requested scope string against the catalog and the
// client's allowance (RFC 6749 §3.3) and returns the scope to grant, with
// the account the token is restricted to, if any.
//
// An empty request means every scope the client may use. A request that
// names only account:<id> means every scope the client may use, restricted
// to that account. At most one account:<id> scope restricts the token to an
// account the client may act for. A client limited to a finite list of
// accounts never gets an unrestricted token: with no account named, a
// client with one account gets a token restricted to it, and a client with
// several gets invalid_scope. A client allowed no scope gets invalid_scope,
// never an empty token.
//
// With narrowing (a refresh), an empty request is left to the grant, which
// keeps what the refresh token carries, account included; a named scope is
// checked but not widened.
//
// v is the part of the catalogs the request is checked against (the
// default resource's, or those of the resources it names, resources.go).
func (s *Server) resolveScope(cc *cachedClient, v *scopeView, requested string, narrowing bool) ([]string, string, error) {
	if requested == "" {
		switch {
		case narrowing:
			return nil, "", nil
		case len(v.catalogScopes) == 0:
			return nil, "", s.noScopes(cc)
		case cc.accountsLimited && cc.onlyAccount == "":
			return nil, "", nameAccount(cc)
		}
		return v.defaultScopes, v.defaultAccount, nil
	}
	toks, err := scope.Split(requested)
	if err != nil {
		return nil, "", oauth.InvalidScope("%v", err)
	}
	var account string
	for _, t := range toks {
		if strings.HasPrefix(t, scope.AccountPrefix) {
			id, ok := scope.AccountID(t)
			if !ok {
				return nil, "", oauth.InvalidScope("malformed account scope %q: use account:<id>", safeName(t))
			}
			if account != "" {
				return nil, "", oauth.InvalidScope("a token may be restricted to at most one account")
			}
			if !cc.mayUseAccount(id) {
				return nil, "", oauth.InvalidScope("this client may not act for account %q", id)
			}
			account = id
			continue
		}
		if !s.has(v, t) {
			if !v.def && len(v.res) == 1 {
				return nil, "", oauth.InvalidScope("unknown scope %q for resource %q", safeName(t), v.res[0].ID)
			}
			return nil, "", oauth.InvalidScope("unknown scope %q", safeName(t))
		}
		if !slices.Contains(cc.client.Scopes, t) {
			return nil, "", oauth.InvalidScope("scope %q is not allowed for this client", t)
		}
	}
	if narrowing {
		return toks, account, nil
	}
	if len(toks) == 1 && account != "" { // only account:<id>: every scope, restricted
		if len(v.catalogScopes) == 0 {
			return nil, "", s.noScopes(cc)
		}
		return append(slices.Clone(v.catalogScopes), toks[0]), account, nil
	}
	if account == "" && cc.accountsLimited {
		if cc.onlyAccount == "" {
			return nil, "", nameAccount(cc)
		}
		return append(slices.Clip(toks), cc.onlyAccount), cc.defaultAccount, nil
	}
	return toks, account, nil
}

// noScopes is the error for a client that may be granted no scope without
// naming it.
func (s *Server) noScopes(cc *cachedClient) error {
	var named []string
	for _, sc := range s.byName {
		if slices.Contains(cc.client.Scopes, sc) {
			named = append(named, sc)
		}
	}
	if len(named) > 0 {
		return oauth.InvalidScope("this client is allowed no scopes it gets without naming them; request %s by name", strings.Join(named, " "))
	}
	return oauth.InvalidScope("this client is allowed no scopes")
}

// nameAccount is the error for a client limited to several accounts that
// named none.
func nameAccount(cc *cachedClient) error {
	return oauth.InvalidScope("this client acts for several accounts: restrict the token to one with the scope account:<id>, e.g. scope=account:%s", cc.client.Accounts[0])
}

func (cc *cachedClient) mayUseAccount(id string) bool {
	for _, a := range cc.client.Accounts {
		if a == store.AnyAccount || a == id {
			return true
		}
	}
	return false
}
