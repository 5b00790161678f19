package server

import (
	"encoding/json"
	"time"

	"github.com/gatehouse/gatehouse/internal/token"
)

// The verified-token cache of introspection (Server.verified) is a
// tokencache.Cache of verifiedTokens, as the resource package's guard keeps
// for resource servers. It caches only what the signature and the claims
// say, which cannot change; whether the token still stands (revoked, its
// client or user disabled) is decided on every call (Server.Live). The
// cache is emptied whenever the signing keys are reloaded, so a token whose
// key was withdrawn is verified again.

// verifiedToken is a verified access token and the introspection
// response that says it is active.
type verifiedToken struct {
	exp                    int64 // Unix nanoseconds
	jti, clientID, subject string
	iat                    time.Time
	body                   []byte // the RFC 7662 response
}

// verifiedCacheSize bounds the introspection cache: at most this many
// tokens (each about 1.5 KB with its response) per node.
const verifiedCacheSize = 10_000

// newVerifiedToken builds the cache entry of a verified token.
func newVerifiedToken(c token.Claims) (*verifiedToken, error) {
	var aud any = c.Audience
	if len(c.Audiences) > 0 {
		aud = c.Audiences
	}
	var nbf int64 // omitted for a token without nbf
	if !c.NotBefore.IsZero() {
		nbf = c.NotBefore.Unix()
	}
	var cnf *confirmation
	if c.JKT != "" {
		cnf = &confirmation{JKT: c.JKT}
	}
	body, err := json.Marshal(introspection{
		Cnf:       cnf,
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		TokenType: tokenType(c.JKT),
		Exp:       c.ExpiresAt.Unix(),
		Iat:       c.IssuedAt.Unix(),
		Nbf:       nbf,
		Sub:       c.Subject,
		Aud:       aud,
		Iss:       c.Issuer,
		Jti:       c.JTI,
		AccountID: c.AccountID,
	})
	if err != nil {
		return nil, err
	}
	return &verifiedToken{
		exp: c.ExpiresAt.UnixNano(),
		jti: c.JTI, clientID: c.ClientID, subject: c.Subject, iat: c.IssuedAt,
		body: body,
	}, nil
}
