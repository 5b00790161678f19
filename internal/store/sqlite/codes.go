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

// Authorization codes.
//
// Every write transaction holds the database's write lock from its start
// (BEGIN IMMEDIATE), so the read-check-write of redeeming a code cannot
// interleave.

// CreateAuthCode inserts c.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (`+sqlstore.AuthCodeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sqlstore.AuthCodeArgs(codec{}, c)...)
		return insertErr(err, "client or user")
	})
	if err != nil {
		return fmt.Errorf("create authorization code: %w", err)
	}
	return nil
}

// RedeemAuthCode marks the code used, unless it already was.
func (s *Store) RedeemAuthCode(ctx context.Context, id string, at time.Time) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = getAuthCode(ctx, tx, id); err != nil {
			return err
		}
		if !c.UsedAt.IsZero() {
			return store.ErrUsed
		}
		if _, err := tx.ExecContext(ctx, "UPDATE auth_codes SET used_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
			return err
		}
		c.UsedAt = time.UnixMicro(at.UnixMicro()).UTC()
		return nil
	})
	if errors.Is(err, store.ErrUsed) {
		return c, fmt.Errorf("redeem authorization code: %w", err)
	}
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	return c, nil
}

// RecordAuthCodeIssue stores what the redemption of the code issued.
func (s *Store) RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_codes SET access_token_jti = ?, access_token_expires = ?,
			refresh_family_id = ? WHERE id = ?`, accessJTI, micros(accessExpires), refreshFamilyID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record authorization code issue: %w", err)
	}
	return nil
}

func getAuthCode(ctx context.Context, tx *sql.Tx, id string) (store.AuthCode, error) {
	c, err := scanAuthCode(tx.QueryRowContext(ctx, "SELECT "+sqlstore.AuthCodeColumns+" FROM auth_codes WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuthCode{}, store.ErrNotFound
	}
	return c, err
}

func scanAuthCode(row sqlstore.Scanner) (store.AuthCode, error) {
	return sqlstore.ScanAuthCode(codec{}, row)
}
