package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Refresh tokens.
//
// Concurrency: every change to a refresh token family's tokens (rotation,
// reuse detection, revocation) first locks the family's row, so they are
// serialised per family; the rotated token is read after the lock is taken.

// CreateRefreshToken inserts t as the first token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO refresh_families (`+FamilyColumns+`)
			`+Values(FamilyColumns), FamilyArgs(s.db, t)...)
		if err := s.insertErr(err, "client or user"); err != nil {
			return fmt.Errorf("family %q: %w", t.FamilyID, err)
		}
		return s.insertRefreshToken(ctx, tx, t)
	})
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// GetRefreshToken returns the token.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (store.RefreshToken, error) {
	t, err := get(ctx, s, ScanRefreshToken, RefreshTokenSelect+" WHERE t.id = $1", id)
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
	err := s.db.Write(ctx, func(tx Tx) error {
		outcome = nil
		// A token's family never changes, so it can be read before the lock.
		familyID, err := queryOne(ctx, s.db, tx, scanString, "SELECT family_id FROM refresh_tokens WHERE id = $1", id)
		if err != nil {
			return err
		}
		if s.d.ForUpdate != "" {
			if _, err := tx.Exec(ctx, "SELECT 1 FROM refresh_families WHERE id = $1"+s.d.ForUpdate, familyID); err != nil {
				return fmt.Errorf("lock refresh token family: %w", err)
			}
		}
		// This statement sees what the lock's previous holder committed.
		if old, err = queryOne(ctx, s.db, tx, ScanRefreshToken, RefreshTokenSelect+" WHERE t.id = $1", id); err != nil {
			return err
		}
		if !old.RevokedAt.IsZero() {
			outcome = store.ErrRevoked
			return nil
		}
		if !old.UsedAt.IsZero() {
			// Reuse: commit the family's revocation.
			if err := s.revokeFamily(ctx, tx, old.FamilyID, at); err != nil {
				return err
			}
			old.RevokedAt = Stored(at)
			outcome = store.ErrReused
			return nil
		}
		if next.FamilyID != "" && next.FamilyID != old.FamilyID {
			return fmt.Errorf("the next token's family %q is not the family %q", next.FamilyID, old.FamilyID)
		}
		next.FamilyID = old.FamilyID
		if _, err := tx.Exec(ctx, "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", id, s.db.Time(at)); err != nil {
			return err
		}
		if err := s.insertRefreshToken(ctx, tx, next); err != nil {
			return fmt.Errorf("next token: %w", err)
		}
		old.UsedAt = Stored(at)
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
	err := s.db.Write(ctx, func(tx Tx) error { return s.revokeFamily(ctx, tx, familyID, at) })
	if err != nil {
		return fmt.Errorf("revoke refresh token family %q: %w", familyID, err)
	}
	return nil
}

func (s *Store) revokeFamily(ctx context.Context, tx Tx, familyID string, at time.Time) error {
	_, err := tx.Exec(ctx, "UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
		familyID, s.db.Time(at))
	return err
}

// revokeClientFamilies revokes every live refresh token family of the
// client at at. The UPDATE waits for the lock of a family being rotated,
// then sees the committed row (and the token the rotation added belongs
// to the family it revokes).
func (s *Store) revokeClientFamilies(ctx context.Context, tx Tx, clientID string, at time.Time) error {
	_, err := tx.Exec(ctx, "UPDATE refresh_families SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
		clientID, s.db.Time(at))
	return err
}

func (s *Store) insertRefreshToken(ctx context.Context, tx Tx, t store.RefreshToken) error {
	_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (`+RefreshTokenColumns+`)`+Values(RefreshTokenColumns), RefreshTokenArgs(s.db, t)...)
	return s.insertErr(err, "family")
}
