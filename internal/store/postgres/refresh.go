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

// Refresh tokens.
//
// Concurrency: every change to a refresh token family's tokens (rotation,
// reuse detection, revocation) first locks the family's row, so they are
// serialised per family; the rotated token is read after the lock is taken.

// CreateRefreshToken inserts t as the first token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO refresh_families (`+sqlstore.FamilyColumns+`)
			VALUES ($1, $2, $3, $4, $5)`, sqlstore.FamilyArgs(codec{}, t)...)
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
// detects the reuse of a replaced one, holding the family's row lock.
func (s *Store) RotateRefreshToken(ctx context.Context, id string, at time.Time, next store.RefreshToken) (store.RefreshToken, error) {
	var (
		old     store.RefreshToken
		outcome error // ErrRevoked or ErrReused, after committing
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		// A token's family never changes, so it can be read before the lock.
		var familyID string
		err := tx.QueryRow(ctx, "SELECT family_id FROM refresh_tokens WHERE id = $1", id).Scan(&familyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT 1 FROM refresh_families WHERE id = $1 FOR UPDATE", familyID); err != nil {
			return fmt.Errorf("lock refresh token family: %w", err)
		}
		// READ COMMITTED: this statement sees what the lock's previous
		// holder committed.
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
			old.RevokedAt = *ts(at)
			outcome = store.ErrReused
			return nil
		}
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("the next token's family %q is not the family %q", next.FamilyID, old.FamilyID)
		}
		next.FamilyID = old.FamilyID
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", id, ts(at)); err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		old.UsedAt = *ts(at)
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

// RevokeRefreshFamily revokes every token of the family. The UPDATE waits
// for a rotation holding the family's lock.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	err := s.write(ctx, func(tx pgx.Tx) error { return revokeFamily(ctx, tx, familyID, at) })
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

func revokeFamily(ctx context.Context, q querier, familyID string, at time.Time) error {
	_, err := q.Exec(ctx, "UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
		familyID, ts(at))
	return err
}

func insertRefreshToken(ctx context.Context, tx pgx.Tx, t store.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (`+sqlstore.RefreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, sqlstore.RefreshTokenArgs(codec{}, t)...)
	return insertErr(err, "family")
}

func getRefreshToken(ctx context.Context, q querier, id string) (store.RefreshToken, error) {
	t, err := sqlstore.ScanRefreshToken(codec{}, q.QueryRow(ctx, sqlstore.RefreshTokenSelect+" WHERE t.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefreshToken{}, store.ErrNotFound
	}
	return t, err
}
