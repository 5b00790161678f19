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

// Authorization codes.
//
// Concurrency: RedeemAuthCode is one conditional UPDATE (... WHERE used_at
// IS NULL), so of concurrent redeemers exactly one changes the row.

// CreateAuthCode inserts c.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO auth_codes (`+sqlstore.AuthCodeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, sqlstore.AuthCodeArgs(codec{}, c)...)
		return insertErr(err, "client or user")
	})
	if err != nil {
		return fmt.Errorf("create authorization code: %w", err)
	}
	return nil
}

// RedeemAuthCode marks the code used, unless it already was. Of concurrent
// UPDATEs of the row, the later ones wait for the first to commit and then
// find used_at set.
func (s *Store) RedeemAuthCode(ctx context.Context, id string, at time.Time) (store.AuthCode, error) {
	var (
		c    store.AuthCode
		used bool
	)
	err := s.write(ctx, func(tx pgx.Tx) (err error) {
		c, err = scanAuthCode(tx.QueryRow(ctx, `UPDATE auth_codes SET used_at = $2
			WHERE id = $1 AND used_at IS NULL RETURNING `+sqlstore.AuthCodeColumns, id, ts(at)))
		if used = errors.Is(err, pgx.ErrNoRows); !used {
			return err
		}
		c, err = scanAuthCode(tx.QueryRow(ctx, "SELECT "+sqlstore.AuthCodeColumns+" FROM auth_codes WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return store.AuthCode{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	if used {
		return c, fmt.Errorf("redeem authorization code: %w", store.ErrUsed)
	}
	return c, nil
}

// RecordAuthCodeIssue stores what the redemption of the code issued.
func (s *Store) RecordAuthCodeIssue(ctx context.Context, id, accessJTI string, accessExpires time.Time, refreshFamilyID string) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth_codes SET access_token_jti = $2, access_token_expires = $3,
			refresh_family_id = $4 WHERE id = $1`, id, accessJTI, ts(accessExpires), refreshFamilyID)
		if err == nil && tag.RowsAffected() == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("record authorization code issue: %w", err)
	}
	return nil
}

func scanAuthCode(row sqlstore.Scanner) (store.AuthCode, error) {
	return sqlstore.ScanAuthCode(codec{}, row)
}
