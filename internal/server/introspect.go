package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/grant"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// introspection is the RFC 7662 §2.2 response for an active token.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"` // a string, or an array if the token's is one of several (RFC 7662 §2.2)
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	// Cnf is the confirmation of a DPoP-bound token (RFC 9449 §6.2).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is the cnf member: the JWK thumbprint of the key a token is
// bound to (RFC 9449 §6.1).
type confirmation struct {
	JKT string `json:"jkt"`
}

// introspect is the RFC 7662 introspection endpoint. Any authenticated client
// may introspect (resource servers authenticate as clients). A token is
// active only if its signature, issuer and lifetime check out, it has not
// been revoked (by its ID, or with every token issued to its client until a
// time: [clients.Service.RevokeTokens]), and the client (and, for a user's token, the user) it was
// issued to still exists and is enabled; anything else is {"active":false}.
//
// It works at memory speed: a token verified once is cached with its
// response (verified.go) until its exp, so a repeated token costs a map
// lookup; the revocation check is answered by the in-memory revocation set
// (revoked.go) and the client from the client cache, so a client's token,
// fresh or repeated, needs no database round trip (a user's token reads
// the user).
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) error {
	var f form
	if err := readForm(r, &f); err != nil {
		return err
	}
	tok := f.Get("token")
	if _, err := s.authenticate(r, &f); err != nil {
		return err
	}
	if tok == "" {
		return oauth.InvalidRequest("missing token parameter")
	}
	now := s.now()
	v, ok := s.verified.Get(tok, now)
	if !ok {
		claims, err := s.keys.Verify(tok, now)
		if err != nil || claims.Issuer != s.issuer {
			return writeJSONBody(w, inactiveBody)
		}
		if v, err = newVerifiedToken(claims); err != nil {
			return err
		}
		s.verified.Put(tok, v.exp, v, now)
	}
	live, err := s.Live(r.Context(), Token{JTI: v.jti, ClientID: v.clientID, Subject: v.subject, IssuedAt: v.iat})
	if err != nil {
		return err
	}
	if !live {
		return writeJSONBody(w, inactiveBody)
	}
	return writeJSONBody(w, v.body)
}

// inactiveBody is the response for a token that is not active (RFC 7662
// §2.2): nothing else is said about it.
var inactiveBody = []byte(`{"active":false}`)

// writeJSONBody writes body, a JSON document, as a 200 response that is
// not to be stored.
func writeJSONBody(w http.ResponseWriter, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// revoke is the RFC 7009 revocation endpoint. Revoking an access token
// records its ID until it expires; revoking a refresh token (recognised by
// its prefix or token_type_hint=refresh_token) revokes its whole family.
// Invalid, expired and unknown tokens get 200 as the RFC requires (§2.2); a
// token issued to another client is refused. Public clients may revoke their
// tokens with their client_id alone (§2.1).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	var f form
	if err := readForm(r, &f); err != nil {
		return err
	}
	tok := f.Get("token")
	cc, err := s.authenticateClient(r, &f, s.clientIP.Addr(r), true)
	if err != nil {
		return err
	}
	if tok == "" {
		return oauth.InvalidRequest("missing token parameter")
	}
	ok := func() error {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if strings.HasPrefix(tok, grant.RefreshPrefix) || f.Get("token_type_hint") == "refresh_token" && strings.Count(tok, ".") != 2 {
		rt, err := s.st.GetRefreshToken(r.Context(), grant.TokenID(tok))
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ok()
		case err != nil:
			return fmt.Errorf("load refresh token: %w", err)
		case rt.ClientID != cc.client.ID:
			return oauth.UnauthorizedClient("the token was not issued to this client")
		}
		if err := s.st.RevokeRefreshFamily(r.Context(), rt.FamilyID, s.now()); err != nil {
			return fmt.Errorf("revoke refresh token family: %w", err)
		}
		return ok()
	}
	if strings.Count(tok, ".") != 2 {
		return ok() // not one of our tokens
	}
	claims, err := s.keys.Verify(tok, s.now())
	if err != nil {
		return ok() // invalid or already expired: nothing to revoke
	}
	if claims.ClientID != cc.client.ID {
		return oauth.UnauthorizedClient("the token was not issued to this client")
	}
	if err := s.st.RevokeToken(r.Context(), claims.JTI, claims.ExpiresAt); err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	s.revoked.addToken(claims.JTI, claims.ExpiresAt) // on this node at once; elsewhere through the store
	s.reuse.forgetJTI(claims.ClientID, claims.JTI)   // reuse.go
	return ok()
}

// Token is what Live needs of a verified access token.
type Token struct {
	JTI, ClientID, Subject string
	IssuedAt               time.Time
	// Fresh reads the client and the revocations from the store rather
	// than from memory (the client cache and the revocation set), which
	// follow changes within the change feed's poll interval: the admin API
	// cuts off a caller whose client was just disabled.
	Fresh bool
}

// Live reports whether a verified, unexpired access token still stands:
// it was not revoked, its client exists and is enabled, and the user it
// was issued for (if any) exists and is enabled. Introspection answers
// with it, and the admin API checks its callers' tokens with it.
func (s *Server) Live(ctx context.Context, t Token) (bool, error) {
	// Revoked by its ID, or with every token of its client issued until a
	// time: iat is whole seconds, so one issued in the second of that time,
	// even just after it, is revoked too (fail closed).
	// Fresh asks the store, like the client below; otherwise the in-memory
	// set answers while it is current (tokenRevoked).
	var revoked bool
	var err error
	if t.Fresh {
		revoked, err = s.st.IsTokenRevoked(ctx, t.JTI, t.ClientID, t.IssuedAt)
	} else {
		revoked, err = s.tokenRevoked(ctx, t.JTI, t.ClientID, t.IssuedAt)
	}
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", err)
	}
	if revoked {
		return false, nil
	}
	var enabled bool
	if t.Fresh {
		c, err := s.st.GetClient(ctx, t.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("load token's client: %w", err)
		}
		enabled = err == nil && !c.Disabled
	} else {
		owner, err := s.clients.get(ctx, t.ClientID)
		if err != nil {
			return false, fmt.Errorf("load token's client: %w", err)
		}
		enabled = owner != nil && !owner.client.Disabled
	}
	if !enabled {
		return false, nil
	}
	if t.Subject != t.ClientID {
		// Issued for a user (authorization code): the user must still exist
		// and be enabled.
		u, err := s.st.GetUser(ctx, t.Subject)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("load token's user: %w", err)
		}
	}
	return true, nil
}
