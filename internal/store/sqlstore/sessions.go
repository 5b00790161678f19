package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// CreateSession inserts sess.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (`+SessionColumns+`) VALUES ($1, $2, $3, $4, $5)`, SessionArgs(s.db, sess)...)
	if err := s.insertErr(err, "user"); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	sess, err := get(ctx, s, ScanSession, "SELECT "+SessionColumns+" FROM sessions WHERE id = $1", id)
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
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = $2
		WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)`, id, s.db.Time(at))
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession removes the session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := s.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID); err != nil {
		return fmt.Errorf("delete sessions of user %q: %w", userID, err)
	}
	return nil
}
