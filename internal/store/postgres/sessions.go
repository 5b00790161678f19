package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sessions (`+sqlstore.SessionColumns+`)
			VALUES ($1, $2, $3, $4, $5)`, sqlstore.SessionArgs(codec{}, sess)...)
		return insertErr(err, "user")
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	sess, err := get(ctx, s, sqlstore.ScanSession, "SELECT "+sqlstore.SessionColumns+" FROM sessions WHERE id = $1", id)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
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
