package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// keysLockClass is the first key of the advisory lock that serialises
// UpdateSigningKeys; the second is a hash of the current schema, so that
// Gatehouse installations in different schemas of one database do not wait
// for each other.
const keysLockClass = 0x67617465 // "gate"

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

// UpdateSigningKeys runs fn on the current keys while holding an advisory
// lock, then applies what it returned. Removing an ID that does not exist is
// not an error.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(keys []store.SigningKey) (add []store.SigningKey, remove []string, err error), ev store.AuditEvent) error {
	var fnErr error
	err := s.write(ctx, func(tx pgx.Tx) error {
		// Held until the transaction ends. The next statement then
		// reads with a fresh snapshot (READ COMMITTED), so it sees what the
		// previous holder committed.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", int32(keysLockClass)); err != nil {
			return fmt.Errorf("lock signing keys: %w", err)
		}
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
			_, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+sqlstore.KeyColumns+`)
				VALUES ($1, $2, $3, $4, $5)`, sqlstore.KeyArgs(codec{}, k)...)
			if isUniqueViolation(err) {
				return fmt.Errorf("signing key %q: %w", k.ID, store.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("insert signing key %q: %w", k.ID, err)
			}
			if err := addChange(ctx, tx, store.ChangeKey, k.ID); err != nil {
				return err
			}
		}
		for _, id := range remove {
			tag, err := tx.Exec(ctx, "DELETE FROM signing_keys WHERE id = $1", id)
			if err != nil {
				return fmt.Errorf("delete signing key %q: %w", id, err)
			}
			if tag.RowsAffected() > 0 {
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
	rows, err := q.Query(ctx, "SELECT "+sqlstore.KeyColumns+` FROM signing_keys
		ORDER BY active_at NULLS FIRST, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, func(row sqlstore.Scanner) (store.SigningKey, error) { return sqlstore.ScanKey(codec{}, row) })
}
