package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, sess.ID, sess.UserID, micros(sess.CreatedAt), micros(sess.LastSeenAt), micros(sess.ExpiresAt))
		return insertErr(err, "user")
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	var (
		sess                     store.Session
		created, seen, expiresAt sql.NullInt64
	)
	err := s.query(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = ?", id).
			Scan(&sess.ID, &sess.UserID, &created, &seen, &expiresAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.CreatedAt = fromMicros(created)
	sess.LastSeenAt = fromMicros(seen)
	sess.ExpiresAt = fromMicros(expiresAt)
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?1
			WHERE id = ?2 AND (last_seen_at IS NULL OR last_seen_at < ?1)`, micros(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes the session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}
