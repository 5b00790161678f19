package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Setup tokens: one-time links that create the first administrator.
//
// RedeemSetupToken takes LockSetup before it looks for an administrator, so
// redemptions on every node sharing the database run one after another and
// each sees the administrator that an earlier one committed.

// CreateSetupToken inserts t.
func (s *Store) CreateSetupToken(ctx context.Context, t store.SetupToken) error {
	_, err := s.exec(ctx, "INSERT INTO setup_tokens ("+SetupTokenColumns+") VALUES ($1, $2, $3)", SetupTokenArgs(s.db, t)...)
	if err := s.insertErr(err, ""); err != nil {
		return fmt.Errorf("create setup token: %w", err)
	}
	return nil
}

// GetSetupToken returns the setup token.
func (s *Store) GetSetupToken(ctx context.Context, id string) (store.SetupToken, error) {
	t, err := get(ctx, s, ScanSetupToken, getSetupToken, id)
	if err != nil {
		return store.SetupToken{}, fmt.Errorf("get setup token: %w", err)
	}
	return t, nil
}

const getSetupToken = "SELECT " + SetupTokenColumns + " FROM setup_tokens WHERE id = $1"

// RedeemSetupToken inserts the first administrator u if no administrator
// exists and the setup token is live, and then deletes every setup token.
func (s *Store) RedeemSetupToken(ctx context.Context, id string, at time.Time, u store.User, ev store.AuditEvent) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		if err := s.db.Lock(ctx, tx, LockSetup); err != nil {
			return fmt.Errorf("lock setup: %w", err)
		}
		var admin bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE role = $1)", store.RoleAdmin).Scan(s.db.BoolDest(&admin)); err != nil {
			return err
		}
		if admin {
			return store.ErrUsed
		}
		t, err := queryOne(ctx, s.db, tx, ScanSetupToken, getSetupToken, id)
		if err != nil {
			return err
		}
		if !at.Before(t.ExpiresAt) {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := s.addAudit(ctx, tx, ev); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM setup_tokens")
		return err
	})
	if err != nil {
		return fmt.Errorf("redeem setup token: %w", err)
	}
	return nil
}
