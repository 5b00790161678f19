package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
)

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, sess.ID, sess.UserID, ts(sess.CreatedAt), ts(sess.LastSeenAt), ts(sess.ExpiresAt))
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
		created, seen, expiresAt *time.Time
	)
	err := s.query(ctx, func(q querier) error {
		return q.QueryRow(ctx, "SELECT id, user_id, created_at, last_seen_at, expires_at FROM sessions WHERE id = $1", id).
			Scan(&sess.ID, &sess.UserID, &created, &seen, &expiresAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	sess.CreatedAt = fromTS(created)
	sess.LastSeenAt = fromTS(seen)
	sess.ExpiresAt = fromTS(expiresAt)
	return sess, nil
}

// TouchSession moves the session's LastSeenAt forward.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2
			WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`, id, ts(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes the session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.exec(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if err := s.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}
