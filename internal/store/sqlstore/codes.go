package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Authorization codes.
//
// Concurrency: RedeemAuthCode is one conditional UPDATE (... WHERE used_at
// IS NULL), so of concurrent redeemers exactly one changes the row.

// CreateAuthCode inserts c.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	_, err := s.exec(ctx, `INSERT INTO auth_codes (`+AuthCodeColumns+`)`+Values(AuthCodeColumns), AuthCodeArgs(s.db, c)...)
	if err := s.insertErr(err, "client or user"); err != nil {
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
	err := s.db.Write(ctx, func(tx Tx) (err error) {
		c, err = queryOne(ctx, s.db, tx, ScanAuthCode, `UPDATE auth_codes SET used_at = $2
			WHERE id = $1 AND used_at IS NULL RETURNING `+AuthCodeColumns, id, s.db.Time(at))
		if used = errors.Is(err, store.ErrNotFound); !used {
			return err
		}
		c, err = queryOne(ctx, s.db, tx, ScanAuthCode, "SELECT "+AuthCodeColumns+" FROM auth_codes WHERE id = $1", id)
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
	n, err := s.exec(ctx, `UPDATE auth_codes SET access_token_jti = $2, access_token_expires = $3,
		refresh_family_id = $4 WHERE id = $1`, id, accessJTI, s.db.Time(accessExpires), refreshFamilyID)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record authorization code issue: %w", err)
	}
	return nil
}
