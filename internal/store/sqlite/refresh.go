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

// Refresh tokens.
//
// Every write transaction holds the database's write lock from its start
// (BEGIN IMMEDIATE), so the read-check-write of rotating a refresh token
// cannot interleave.

// CreateRefreshToken inserts t as the first token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO refresh_families (`+sqlstore.FamilyColumns+`)
			VALUES (?, ?, ?, ?, ?)`, sqlstore.FamilyArgs(codec{}, t)...)
		if err := insertErr(err, "client or user"); err != nil {
			return fmt.Errorf("family %q: %w", t.FamilyID, err)
		}
		return insertRefreshToken(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// GetRefreshToken returns the token.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := s.query(ctx, func(q querier) (err error) {
		t, err = getRefreshToken(ctx, q, id)
		return err
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("get refresh token: %w", err)
	}
	return t, nil
}

// RotateRefreshToken replaces the current token of a family with next, or
// detects the reuse of a replaced one.
func (s *Store) RotateRefreshToken(ctx context.Context, id string, at time.Time, next store.RefreshToken) (store.RefreshToken, error) {
	var (
		old     store.RefreshToken
		outcome error // ErrRevoked or ErrReused, after committing
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if old, err = getRefreshToken(ctx, tx, id); err != nil {
			return err
		}
		if !old.RevokedAt.IsZero() {
			outcome = store.ErrRevoked
			return nil
		}
		if !old.UsedAt.IsZero() {
			// Reuse: commit the family's revocation.
			if err := revokeFamily(ctx, tx, old.FamilyID, at); err != nil {
				return err
			}
			old.RevokedAt = time.UnixMicro(at.UnixMicro()).UTC()
			outcome = store.ErrReused
			return nil
		}
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("the next token's family %q is not the family %q", next.FamilyID, old.FamilyID)
		}
		next.FamilyID = old.FamilyID
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET used_at = ? WHERE id = ?", at.UnixMicro(), id); err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		old.UsedAt = time.UnixMicro(at.UnixMicro()).UTC()
		return nil
	})
	if err != nil {
		return store.RefreshToken{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if outcome != nil {
		return old, fmt.Errorf("rotate refresh token: %w", outcome)
	}
	return old, nil
}

// RevokeRefreshFamily revokes every token of the family.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		return revokeFamily(ctx, tx, familyID, at)
	})
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

func revokeFamily(ctx context.Context, tx *sql.Tx, familyID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, "UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
		at.UnixMicro(), familyID)
	return err
}

func insertRefreshToken(ctx context.Context, tx *sql.Tx, t store.RefreshToken) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshTokenColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, sqlstore.RefreshTokenArgs(codec{}, t)...)
	return insertErr(err, "family")
}

func getRefreshToken(ctx context.Context, q querier, id string) (store.RefreshToken, error) {
	t, err := sqlstore.ScanRefreshToken(codec{}, q.QueryRowContext(ctx, sqlstore.RefreshTokenSelect+" WHERE t.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	return t, err
}
