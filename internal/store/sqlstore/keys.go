package sqlstore

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ListSigningKeys returns all signing keys ordered by ActiveAt, then ID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := list(ctx, s, ScanKey, listKeys)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

const listKeys = "SELECT " + KeyColumns + " FROM signing_keys ORDER BY active_at NULLS FIRST, id"

// UpdateSigningKeys runs fn on the current keys while holding
// LockSigningKeys, then applies what it returned. Removing an ID that does
// not exist is not an error.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (add []store.SigningKey, remove []string, err error), ev store.AuditEvent) error {
	var fnErr error
	err := s.db.Write(ctx, func(tx Tx) error {
		if err := s.db.Lock(ctx, tx, LockSigningKeys); err != nil {
			return fmt.Errorf("lock signing keys: %w", err)
		}
		keys, err := queryAll(ctx, s.db, tx, ScanKey, listKeys)
		if err != nil {
			return err
		}
		add, remove, err := fn(keys)
		if err != nil {
			fnErr = err
			return err
		}
		for _, k := range add {
			_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+KeyColumns+`) VALUES ($1, $2, $3, $4, $5)`, KeyArgs(s.db, k)...)
			if err := s.insertErr(err, ""); err != nil {
				return fmt.Errorf("signing key %q: %w", k.ID, err)
			}
			if err := s.addChange(ctx, tx, store.ChangeKey, k.ID); err != nil {
				return err
			}
		}
		for _, id := range remove {
			n, err := tx.Exec(ctx, "DELETE FROM signing_keys WHERE id = $1", id)
			if err != nil {
				return fmt.Errorf("delete signing key %q: %w", id, err)
			}
			if n > 0 {
				if err := s.addChange(ctx, tx, store.ChangeKey, id); err != nil {
					return err
				}
			}
		}
		if ev.Action == "" {
			return nil
		}
		return s.addAudit(ctx, tx, ev)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("update signing keys: %w", err)
	}
	return nil
}
