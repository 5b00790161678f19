package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// Setup tokens: one-time links that create the first administrator.
//
// RedeemSetupToken takes a transaction-scoped advisory lock before it looks
// for an administrator, so redemptions on every node sharing the database
// run one after another; each statement after the lock reads a fresh
// snapshot (READ COMMITTED) and so sees the administrator that an earlier
// redemption committed.

// setupLockClass is the first key of the advisory lock that serialises
// RedeemSetupToken; the second is a hash of the current schema (see
// keysLockClass).
const setupLockClass = 0x73657475 // "setu"

// CreateSetupToken inserts t.
func (s *Store) CreateSetupToken(ctx context.Context, t store.SetupToken) error {
	err := s.exec(ctx, "INSERT INTO setup_tokens ("+sqlstore.SetupTokenColumns+") VALUES ($1, $2, $3)",
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", int32(setupLockClass)); err != nil {
			return fmt.Errorf("lock setup: %w", err)
		}
		var admin bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE role = $1)", store.RoleAdmin).Scan(&admin); err != nil {
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
		_, err = tx.Exec(ctx, "DELETE FROM setup_tokens")
		return err
	})
	if err != nil {
		return fmt.Errorf("redeem setup token: %w", err)
	}
	return nil
}

func getSetupToken(ctx context.Context, q querier, id string) (store.SetupToken, error) {
	t, err := sqlstore.ScanSetupToken(codec{}, q.QueryRow(ctx, "SELECT "+sqlstore.SetupTokenColumns+" FROM setup_tokens WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SetupToken{}, store.ErrNotFound
	}
	return t, err
}

func pruneSetupTokens(ctx context.Context, tx pgx.Tx, now time.Time) error {
	_, err := tx.Exec(ctx, "DELETE FROM setup_tokens WHERE expires_at < $1", now.UTC())
	return err
}
