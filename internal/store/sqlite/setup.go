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

// Setup tokens: one-time links that create the first administrator.
//
// RedeemSetupToken runs in a write transaction, which holds the database's
// write lock from its start (BEGIN IMMEDIATE): the check that no
// administrator exists and the insertion of the first one cannot interleave
// with another redemption, in this process or any other.

// CreateSetupToken inserts t.
func (s *Store) CreateSetupToken(ctx context.Context, t store.SetupToken) error {
	err := s.exec(ctx, "INSERT INTO setup_tokens ("+sqlstore.SetupTokenColumns+") VALUES (?, ?, ?)",
		sqlstore.SetupTokenArgs(codec{}, t)...)
	if isUniqueViolation(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create setup token: %w", err)
	}
	return nil
}

// GetSetupToken returns the setup token.
func (s *Store) GetSetupToken(ctx context.Context, id string) (store.SetupToken, error) {
	var t store.SetupToken
	err := s.query(ctx, func(q querier) (err error) {
		t, err = getSetupToken(ctx, q, id)
		return err
	})
	if err != nil {
		return store.SetupToken{}, fmt.Errorf("get setup token: %w", err)
	}
	return t, nil
}

// RedeemSetupToken inserts the first administrator u if no administrator
// exists and the setup token is live, and then deletes every setup token.
func (s *Store) RedeemSetupToken(ctx context.Context, id string, at time.Time, u store.User, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var admin bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE role = ?)", store.RoleAdmin).Scan(&admin); err != nil {
			return err
		}
		if admin {
			return store.ErrUsed
		}
		t, err := getSetupToken(ctx, tx, id)
		if err != nil {
			return err
		}
		if !at.Before(t.ExpiresAt) {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := addAudit(ctx, tx, ev); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM setup_tokens")
		return err
	})
	if err != nil {
		return fmt.Errorf("redeem setup token: %w", err)
	}
	return nil
}

func getSetupToken(ctx context.Context, q querier, id string) (store.SetupToken, error) {
	t, err := sqlstore.ScanSetupToken(codec{}, q.QueryRowContext(ctx, "SELECT "+sqlstore.SetupTokenColumns+" FROM setup_tokens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.SetupToken{}, store.ErrNotFound
	}
	return t, err
}

func pruneSetupTokens(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM setup_tokens WHERE expires_at < ?", now.UnixMicro())
	return err
}
