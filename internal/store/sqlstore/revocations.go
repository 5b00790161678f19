package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// RevokeToken records jti as revoked until expiresAt, stamped with the
// database's clock. Revoking it again keeps the later of the two expiry
// times and the first stamp.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, `+s.d.Now+`)
		ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE excluded.expires_at > revoked_tokens.expires_at`,
		jti, s.db.At(expiresAt))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether jti is recorded as revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.db.Query(ctx, func(tx Tx) error {
		return tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)", jti).Scan(s.db.BoolDest(&revoked))
	})
	if err != nil {
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return revoked, nil
}

// ListRevocations returns the revocations recorded at or after since whose
// tokens expire after now, oldest first.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	q := `SELECT ` + RevocationColumns + ` FROM revoked_tokens
		WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti` + s.d.Bytewise
	args := []any{s.db.At(since), s.db.At(now)}
	if limit > 0 {
		q += " LIMIT $3"
		args = append(args, limit)
	}
	out, err := list(ctx, s, ScanRevocation, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}
