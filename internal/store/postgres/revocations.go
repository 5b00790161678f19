package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// RevokeToken records jti as revoked until expiresAt, stamped with the
// database's clock (the column default, clock_timestamp()). Revoking it
// again keeps the later of the two expiry times and the first stamp.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)`,
		jti, expiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether jti is recorded as revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.query(ctx, func(q querier) error {
		return q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)", jti).Scan(&revoked)
	})
	if err != nil {
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return revoked, nil
}

// ListRevocations returns the revocations recorded at or after since whose
// tokens expire after now, oldest first.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	out, err := list(ctx, s, sqlstore.ScanRevocation, `SELECT `+sqlstore.RevocationColumns+` FROM revoked_tokens
			WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti COLLATE "C" LIMIT $3`,
		since.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond), lim)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}
