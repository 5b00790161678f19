package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// RevokeToken records jti as revoked until expiresAt, stamped with this
// process's clock while the transaction holds the write lock. Revoking it
// again keeps the later of the two expiry times and the first stamp.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
			ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			jti, expiresAt.UnixMicro(), time.Now().UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether jti is recorded as revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.query(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "SELECT 1 FROM revoked_tokens WHERE jti = ?", jti).Scan(&one)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return true, nil
}

// ListRevocations returns the revocations recorded at or after since whose
// tokens expire after now, oldest first.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	out, err := list(ctx, s, sqlstore.ScanRevocation, `SELECT `+sqlstore.RevocationColumns+` FROM revoked_tokens
			WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at, jti LIMIT ?`,
		since.UnixMicro(), now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}
