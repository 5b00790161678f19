package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Set-password tokens: one-time links with which a user created without a
// password chooses one.
//
// Every statement that deletes a user's tokens runs under the user's lock
// (lockUser), but for Prune, which deletes only expired ones. A redemption
// takes that lock and then deletes its token: the one that deletes it
// (one row) spends it; any other finds it gone and fails.

// CreateUserWithPasswordToken inserts u and its set-password token t and
// records ev, in one transaction.
func (s *Store) CreateUserWithPasswordToken(ctx context.Context, u store.User, t store.PasswordToken, ev store.AuditEvent) error {
	if t.UserID != u.ID {
		return fmt.Errorf("create user %q: the set-password token is for user %q", u.ID, t.UserID)
	}
	err := s.db.Write(ctx, func(tx Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO password_tokens ("+PasswordTokenColumns+") VALUES ($1, $2, $3, $4)",
			PasswordTokenArgs(s.db, t)...)
		if err := s.insertErr(err, "user"); err != nil {
			return fmt.Errorf("set-password token: %w", err)
		}
		return s.addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.ID, err)
	}
	return nil
}

const getPasswordToken = "SELECT " + PasswordTokenColumns + " FROM password_tokens WHERE id = $1"

// GetPasswordToken returns the set-password token.
func (s *Store) GetPasswordToken(ctx context.Context, id string) (store.PasswordToken, error) {
	t, err := get(ctx, s, ScanPasswordToken, getPasswordToken, id)
	if err != nil {
		return store.PasswordToken{}, fmt.Errorf("get set-password token: %w", err)
	}
	return t, nil
}

// RedeemPasswordToken spends the token: it lets fn change the token's user
// and deletes every set-password token of the user, in one transaction.
func (s *Store) RedeemPasswordToken(ctx context.Context, id string, at time.Time, fn func(*store.User) error, ev *store.AuditEvent) (store.User, error) {
	var (
		out   store.User
		fnErr error
	)
	err := s.db.Write(ctx, func(tx Tx) error {
		fnErr = nil
		t, err := queryOne(ctx, s.db, tx, ScanPasswordToken, getPasswordToken, id)
		if err != nil {
			return err
		}
		if !at.Before(t.ExpiresAt) {
			return fmt.Errorf("expired: %w", store.ErrNotFound)
		}
		u, _, err := s.lockUser(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		if err := fn(&u); err != nil {
			fnErr = err
			return err
		}
		if out, err = s.saveUser(ctx, tx, t.UserID, u, ev); err != nil {
			return err
		}
		// Spent by whoever deletes it: a concurrent redemption that
		// committed first already did (and this one is rolled back).
		n, err := tx.Exec(ctx, "DELETE FROM password_tokens WHERE id = $1", id)
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("already spent: %w", store.ErrNotFound)
		}
		_, err = tx.Exec(ctx, "DELETE FROM password_tokens WHERE user_id = $1", t.UserID)
		return err
	})
	if fnErr != nil {
		return store.User{}, fnErr
	}
	if err != nil {
		return store.User{}, fmt.Errorf("redeem set-password token: %w", err)
	}
	return out, nil
}
