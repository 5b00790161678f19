package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// UseClientAssertionJTI inserts the jti unless the client has an unexpired
// record of it; an expired one is replaced by the same statement, so of two
// requests racing with one assertion exactly one sees it new.
func (s *Store) UseClientAssertionJTI(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	var n int64
	err := s.db.Write(ctx, func(tx Tx) (err error) {
		n, err = tx.Exec(ctx, `INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
			WHERE client_assertion_jtis.expires_at <= $4`,
			clientID, jti, s.db.At(expiresAt), s.db.At(now))
		return s.insertErr(err, "client")
	})
	if err != nil {
		return false, fmt.Errorf("record client assertion of %q: %w", clientID, err)
	}
	return n == 1, nil
}
