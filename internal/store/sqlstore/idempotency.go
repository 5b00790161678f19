package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

const idempotencyColumns = "key, request, status, response, created_at, expires_at"

// ReserveIdempotencyKey inserts r unless a live record holds its key. An
// expired one is replaced by the same statement, so two requests racing
// for a key both see the one that won.
func (s *Store) ReserveIdempotencyKey(ctx context.Context, r store.IdempotencyRecord, now time.Time) (store.IdempotencyRecord, error) {
	var (
		existing store.IdempotencyRecord
		taken    bool
	)
	err := s.db.Write(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (key) DO UPDATE SET request = excluded.request, status = excluded.status,
				response = excluded.response, created_at = excluded.created_at, expires_at = excluded.expires_at
			WHERE idempotency_keys.expires_at <= $7`,
			r.Key, NonNilBytes(r.Request), r.Status, NonNilBytes(r.Response), s.db.At(r.CreatedAt), s.db.At(r.ExpiresAt), s.db.At(now))
		if err != nil || n == 1 {
			return err
		}
		existing, err = queryOne(ctx, s.db, tx, scanIdempotency, "SELECT "+idempotencyColumns+" FROM idempotency_keys WHERE key = $1", r.Key)
		taken = err == nil
		return err
	})
	if err != nil {
		return store.IdempotencyRecord{}, fmt.Errorf("reserve idempotency key: %w", err)
	}
	if taken {
		return existing, store.ErrConflict
	}
	return r, nil
}

// FinishIdempotencyKey stores the response of a reserved key.
func (s *Store) FinishIdempotencyKey(ctx context.Context, key string, status int, response []byte, expiresAt time.Time) error {
	n, err := s.exec(ctx, "UPDATE idempotency_keys SET status = $2, response = $3, expires_at = $4 WHERE key = $1",
		key, status, NonNilBytes(response), s.db.At(expiresAt))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("finish idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey deletes the key.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, "DELETE FROM idempotency_keys WHERE key = $1", key); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

func scanIdempotency(c Codec, row Scanner) (store.IdempotencyRecord, error) {
	var r store.IdempotencyRecord
	err := row.Scan(&r.Key, &r.Request, &r.Status, &r.Response, c.TimeDest(&r.CreatedAt), c.TimeDest(&r.ExpiresAt))
	r.Response = nilIfEmpty(r.Response)
	return r, err
}
