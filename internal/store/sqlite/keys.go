package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// ListSigningKeys returns all signing keys ordered by ActiveAt, then ID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	var keys []store.SigningKey
	err := s.query(ctx, func(q querier) (err error) {
		keys, err = listKeys(ctx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	return keys, nil
}

// UpdateSigningKeys runs fn on the current keys while holding the database's
// write lock, then applies what it returned. Removing an ID that does not
// exist is not an error.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (add []store.SigningKey, remove []string, err error), ev store.AuditEvent) error {
	var fnErr error
	err := s.write(ctx, func(tx *sql.Tx) error {
		keys, err := listKeys(ctx, tx)
		if err != nil {
			return err
		}
		add, remove, err := fn(keys)
		if err != nil {
			fnErr = err
			return err
		}
		for _, k := range add {
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+sqlstore.KeyColumns+`)
				VALUES (?, ?, ?, ?, ?)`, sqlstore.KeyArgs(codec{}, k)...)
			if err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("signing key %q: %w", k.ID, store.ErrConflict)
				}
				return fmt.Errorf("insert signing key %q: %w", k.ID, err)
			}
			if err := addChange(ctx, tx, store.ChangeKey, k.ID); err != nil {
				return err
			}
		}
		for _, id := range remove {
			res, err := tx.ExecContext(ctx, "DELETE FROM signing_keys WHERE id = ?", id)
			if err != nil {
				return fmt.Errorf("delete signing key %q: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				if err := addChange(ctx, tx, store.ChangeKey, id); err != nil {
					return err
				}
			}
		}
		if ev.Action == "" {
			return nil
		}
		return addAudit(ctx, tx, ev)
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("update signing keys: %w", err)
	}
	return nil
}

func listKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+sqlstore.KeyColumns+` FROM signing_keys ORDER BY active_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, func(row sqlstore.Scanner) (store.SigningKey, error) { return sqlstore.ScanKey(codec{}, row) })
}
