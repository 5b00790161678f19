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

// CreateClient inserts c with its secrets and records ev.
func (s *Store) CreateClient(ctx context.Context, c store.Client, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		if err := insertSecrets(ctx, tx, c.ID, c.Secrets); err != nil {
			return err
		}
		if err := addChange(ctx, tx, store.ChangeClient, c.ID); err != nil {
			return err
		}
		return addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	return nil
}

// GetClient returns the client with its secrets.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	var c store.Client
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = getClient(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Client{}, fmt.Errorf("get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns every client with its secrets, ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	var out []store.Client
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+sqlstore.ClientColumns+" FROM clients ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		if out, err = sqlstore.Collect(rows, scanClient); err != nil {
			return err
		}
		rows.Close()

		rows, err = tx.QueryContext(ctx, "SELECT client_id, "+sqlstore.SecretColumns+` FROM client_secrets
			ORDER BY client_id, created_at, seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		return sqlstore.AddSecrets(codec{}, rows, out)
	})
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// UpdateClient loads the client, lets fn change it and saves the result, all
// in one transaction.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error, ev *store.AuditEvent) (store.Client, error) {
	var (
		out   store.Client
		fnErr error
	)
	err := s.write(ctx, func(tx *sql.Tx) error {
		c, err := getClient(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			fnErr = err
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update function changed the client ID to %q", c.ID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE clients SET name = ?2, description = ?3, grant_types = ?4,
			scopes = ?5, accounts = ?6, redirect_uris = ?7, audience = ?8, token_ttl_ns = ?9,
			disabled = ?10, created_at = ?11, updated_at = ?12, website = ?13, token_endpoint_auth_method = ?14,
			refresh_with_client_credentials = ?15, pkce_optional = ?16 WHERE id = ?1`, sqlstore.ClientArgs(codec{}, c)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return store.ErrNotFound
		}
		// Every write holds the database lock, so nobody can touch the
		// secrets between our read and this rewrite.
		if _, err := tx.ExecContext(ctx, "DELETE FROM client_secrets WHERE client_id = ?", id); err != nil {
			return err
		}
		if err := insertSecrets(ctx, tx, id, c.Secrets); err != nil {
			return err
		}
		if err := addChange(ctx, tx, store.ChangeClient, id); err != nil {
			return err
		}
		if err := addAudit(ctx, tx, *ev); err != nil {
			return err
		}
		out, err = getClient(ctx, tx, id)
		return err
	})
	if fnErr != nil {
		return store.Client{}, fnErr
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("update client %q: %w", id, err)
	}
	return out, nil
}

// DeleteClient removes the client and its secrets, and by cascade its
// consents, authorization codes and refresh tokens.
func (s *Store) DeleteClient(ctx context.Context, id string, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM clients WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		if err := addChange(ctx, tx, store.ChangeClient, id); err != nil {
			return err
		}
		return addAudit(ctx, tx, ev)
	})
	if err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	return nil
}

// TouchSecrets moves secrets' last-use times forward.
func (s *Store) TouchSecrets(ctx context.Context, used map[string]time.Time) error {
	ids := sqlstore.Touchable(used)
	if len(ids) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE client_secrets SET last_used_at = ?2
			WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, id, micros(used[id])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch %d secrets: %w", len(ids), err)
	}
	return nil
}

// getClient reads one client with its secrets.
func getClient(ctx context.Context, tx *sql.Tx, id string) (store.Client, error) {
	c, err := scanClient(tx.QueryRowContext(ctx, "SELECT "+sqlstore.ClientColumns+" FROM clients WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, store.ErrNotFound
	}
	if err != nil {
		return store.Client{}, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+sqlstore.SecretColumns+` FROM client_secrets WHERE client_id = ?
		ORDER BY created_at, seq`, id)
	if err != nil {
		return store.Client{}, err
	}
	defer rows.Close()
	c.Secrets, err = sqlstore.Collect(rows, scanSecret)
	return c, err
}

func scanClient(row sqlstore.Scanner) (store.Client, error) { return sqlstore.ScanClient(codec{}, row) }

func scanSecret(row sqlstore.Scanner) (store.Secret, error) { return sqlstore.ScanSecret(codec{}, row) }

func insertClient(ctx context.Context, tx *sql.Tx, c store.Client) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO clients (`+sqlstore.ClientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sqlstore.ClientArgs(codec{}, c)...)
	if isUniqueViolation(err) {
		return store.ErrConflict
	}
	return err
}

func insertSecrets(ctx context.Context, tx *sql.Tx, clientID string, secrets []store.Secret) error {
	for i, sec := range secrets {
		_, err := tx.ExecContext(ctx, `INSERT INTO client_secrets (client_id, seq, `+sqlstore.SecretColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sqlstore.SecretArgs(codec{}, clientID, i, sec)...)
		if isUniqueViolation(err) {
			return fmt.Errorf("secret %q: %w", sec.ID, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert secret %q: %w", sec.ID, err)
		}
	}
	return nil
}
