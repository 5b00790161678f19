package resource

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/jws"
	"github.com/gatehouse/gatehouse/scope"
)

// Tokens are verified by internal/jws, the one verifier Gatehouse has; this
// file maps its result to the Guard's claims and RFC 6750 errors.

// entry is a verified token: what the cache holds.
type entry struct {
	exp    int64 // ExpiresAt in Unix nanoseconds: the entry is not used from then on
	iat    int64 // IssuedAt in Unix seconds, for the revocations of its client's tokens
	claims *Claims
	set    scope.Set
}

// verify checks a token that is not in the cache (RFC 9068 §4).
func (g *Guard) verify(ctx context.Context, tok string, now time.Time) (*entry, *failure) {
	var keyFail *failure
	keys := func(kid string) *jws.Key {
		k, f := g.keyFor(ctx, kid, now)
		keyFail = f
		return k
	}
	c, err := jws.Verify(tok, keys, jws.Policy{
		Issuer:     g.cfg.Issuer,
		Audience:   g.cfg.Audience,
		Leeway:     g.cfg.Leeway,
		Required:   jws.RFC9068,
		Algorithms: g.algs,
		Now:        now,
	})
	if err != nil {
		if keyFail != nil {
			return nil, keyFail // 503 while no keys could be fetched
		}
		var je *jws.Error
		if errors.As(err, &je) && je.Reason == jws.Expired {
			return nil, &failure{status: http.StatusUnauthorized, code: codeInvalidToken, reason: ReasonExpired, desc: je.Desc}
		}
		return nil, invalidToken(err.Error())
	}
	scopes, err := scope.Split(c.Scope)
	if err != nil {
		return nil, invalidToken("malformed scope claim")
	}
	if c.AccountID != "" {
		if _, ok := scope.AccountID(scope.AccountPrefix + c.AccountID); !ok {
			return nil, invalidToken("malformed account_id claim")
		}
	}
	cl := &Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		AccountID: c.AccountID,
		JTI:       c.JTI,
		JKT:       c.JKT,
		Audience:  c.Audience,
		Scopes:    scopes,
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		ExpiresAt: c.ExpiresAt,
	}
	return &entry{exp: cl.ExpiresAt.UnixNano(), iat: cl.IssuedAt.Unix(), claims: cl, set: g.catalog.SetOf(scopes)}, nil
}
