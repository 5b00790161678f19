package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// RevokeToken records jti as revoked until expiresAt, stamped with the
// database's clock. Revoking it again keeps the later of the two expiry
// times and the first stamp. Like a change, it signals the change feed's
// listeners (DB.Changed), so that every node reads the revocation at once.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, `+s.d.Now+`)
			ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
			WHERE excluded.expires_at > revoked_tokens.expires_at`,
			jti, s.db.At(expiresAt))
		if err != nil {
			return err
		}
		return s.db.Changed(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	s.revObs.notify(store.Revocation{JTI: jti, ExpiresAt: Stored(expiresAt)})
	return nil
}

// RevokeClientTokens records that the client's access tokens issued before
// before are revoked until expiresAt, revokes its refresh token families
// and records ev, holding the client's row, and signals the change feed's
// listeners (DB.Changed). Revoking again keeps the later
// time and the later expiry, and stamps the entry again with the
// database's clock if either moved, so that the feed sends it again.
//
// The client's row lock serialises this with UpdateClient and DeleteClient
// and makes a concurrent CreateRefreshToken for the client (whose foreign
// key check waits for the lock) commit after it: its family is either
// committed before the UPDATE of the families reads them, or created after
// the revocation.
func (s *Store) RevokeClientTokens(ctx context.Context, clientID string, before, expiresAt time.Time, check func(store.Client) error, ev store.AuditEvent) error {
	var checkErr error
	err := s.db.Write(ctx, func(tx Tx) error {
		checkErr = nil
		c, err := s.getClient(ctx, tx, clientID, true)
		if err != nil {
			return err
		}
		if check != nil {
			if checkErr = check(c); checkErr != nil {
				return checkErr
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO client_revocations (client_id, issued_before, expires_at, revoked_at)
			VALUES ($1, $2, $3, `+s.d.Now+`)
			ON CONFLICT (client_id) DO UPDATE SET
				issued_before = CASE WHEN excluded.issued_before > client_revocations.issued_before
					THEN excluded.issued_before ELSE client_revocations.issued_before END,
				expires_at = CASE WHEN excluded.expires_at > client_revocations.expires_at
					THEN excluded.expires_at ELSE client_revocations.expires_at END,
				revoked_at = excluded.revoked_at
			WHERE excluded.issued_before > client_revocations.issued_before
				OR excluded.expires_at > client_revocations.expires_at`,
			clientID, s.db.At(before), s.db.At(expiresAt))
		if err != nil {
			return fmt.Errorf("record the revocation: %w", err)
		}
		if err := s.revokeClientFamilies(ctx, tx, clientID, before); err != nil {
			return fmt.Errorf("revoke refresh tokens: %w", err)
		}
		if err := s.addAudit(ctx, tx, ev); err != nil {
			return err
		}
		return s.db.Changed(ctx, tx) // every node reads the revocation at once
	})
	if checkErr != nil {
		return checkErr
	}
	if err != nil {
		return fmt.Errorf("revoke tokens of client %q: %w", clientID, err)
	}
	s.revObs.notify(store.Revocation{ClientID: clientID, IssuedBefore: Stored(before), ExpiresAt: Stored(expiresAt)})
	return nil
}

// ObserveRevocations calls fn with each revocation recorded through this
// Store (this process; other processes' are in ListRevocations), once its
// transaction has committed and before RevokeToken or RevokeClientTokens
// returns, until stop is called: a token's (JTI, ExpiresAt) or a client's
// tokens' (ClientID, IssuedBefore, ExpiresAt) as the call gave them, with
// no RevokedAt. A revocation that moved nothing forward is passed on too.
// The server keeps its in-memory revocation set current with it, so that
// a revocation made in its own process (the admin API, the console) is in
// force there by the time the call returns. fn must be quick and must not
// call the store.
func (s *Store) ObserveRevocations(fn func(store.Revocation)) (stop func()) {
	return s.revObs.add(fn)
}

// revocationObservers are the functions ObserveRevocations registered.
type revocationObservers struct {
	mu   sync.RWMutex
	next int
	fns  map[int]func(store.Revocation)
}

func (o *revocationObservers) add(fn func(store.Revocation)) (stop func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fns == nil {
		o.fns = make(map[int]func(store.Revocation))
	}
	id := o.next
	o.next++
	o.fns[id] = fn
	return func() {
		o.mu.Lock()
		delete(o.fns, id)
		o.mu.Unlock()
	}
}

func (o *revocationObservers) notify(rv store.Revocation) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for _, fn := range o.fns {
		fn(rv)
	}
}

// IsTokenRevoked reports whether the token's jti is recorded as revoked or
// its client's tokens issued at or after issuedAt are.
func (s *Store) IsTokenRevoked(ctx context.Context, jti, clientID string, issuedAt time.Time) (bool, error) {
	var revoked bool
	err := s.db.Query(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)
			OR EXISTS (SELECT 1 FROM client_revocations WHERE client_id = $2 AND issued_before >= $3)`,
			jti, clientID, s.db.At(issuedAt)).Scan(s.db.BoolDest(&revoked))
	})
	if err != nil {
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return revoked, nil
}

// ListRevocations returns the revocations of tokens and of clients' tokens
// recorded at or after since that expire after now, oldest first. It reads
// each table in the order of its (revoked_at, id, expires_at) index, at
// most limit rows of each, in one snapshot, and merges them. (One UNION
// ALL ordered by its output columns does not use the indexes: PostgreSQL
// sorts every unexpired revocation to return the first page.)
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	tokens := `SELECT ` + RevocationColumns + ` FROM revoked_tokens
		WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti` + s.d.Bytewise
	clients := `SELECT ` + ClientRevocationColumns + ` FROM client_revocations
		WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, client_id` + s.d.Bytewise
	args := []any{s.db.At(since), s.db.At(now)}
	if limit > 0 {
		tokens += " LIMIT $3"
		clients += " LIMIT $3"
		args = append(args, limit)
	}
	var out []store.Revocation
	err := s.db.Read(ctx, func(tx Tx) error {
		t, err := queryAll(ctx, s.db, tx, ScanRevocation, tokens, args...)
		if err != nil {
			return err
		}
		c, err := queryAll(ctx, s.db, tx, ScanClientRevocation, clients, args...)
		if err != nil {
			return err
		}
		out = mergeRevocations(t, c, limit)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}

// mergeRevocations merges two lists ordered by RevokedAt, then JTI, then
// ClientID (strings bytewise) into one in that order, in a's array (grown
// if need be), and keeps the first limit entries (limit <= 0: all).
func mergeRevocations(a, b []store.Revocation, limit int) []store.Revocation {
	if len(b) > 0 {
		i, j := len(a)-1, len(b)-1
		a = append(a, b...)
		for k := len(a) - 1; j >= 0; k-- { // from the back, so that nothing is overwritten before it moved
			if i >= 0 && compareRevocations(a[i], b[j]) > 0 {
				a[k], i = a[i], i-1
			} else {
				a[k], j = b[j], j-1
			}
		}
	}
	if limit > 0 && len(a) > limit {
		a = a[:limit]
	}
	return a
}

func compareRevocations(x, y store.Revocation) int {
	return cmp.Or(x.RevokedAt.Compare(y.RevokedAt), strings.Compare(x.JTI, y.JTI), strings.Compare(x.ClientID, y.ClientID))
}
