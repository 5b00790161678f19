package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
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
		rows, err := tx.QueryContext(ctx, "SELECT "+clientColumns+" FROM clients ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		index := make(map[string]int)
		for rows.Next() {
			c, err := scanClient(rows)
			if err != nil {
				return err
			}
			index[c.ID] = len(out)
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()

		rows, err = tx.QueryContext(ctx, "SELECT client_id, "+secretColumns+" FROM client_secrets ORDER BY client_id, created_at, seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var clientID string
			sec, err := scanSecret(rows, &clientID)
			if err != nil {
				return err
			}
			if i, ok := index[clientID]; ok {
				out[i].Secrets = append(out[i].Secrets, sec)
			}
		}
		return rows.Err()
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
		res, err := tx.ExecContext(ctx, `UPDATE clients SET name = ?, description = ?, grant_types = ?,
			scopes = ?, accounts = ?, redirect_uris = ?, audience = ?, token_ttl_ns = ?, disabled = ?,
			created_at = ?, updated_at = ?, website = ?, token_endpoint_auth_method = ?,
			refresh_with_client_credentials = ?, pkce_optional = ? WHERE id = ?`,
			c.Name, c.Description, jsonList(c.GrantTypes), jsonList(c.Scopes), jsonList(c.Accounts),
			jsonList(c.RedirectURIs), c.Audience, int64(c.TokenTTL), c.Disabled,
			micros(c.CreatedAt), micros(c.UpdatedAt), c.Website, c.TokenEndpointAuthMethod,
			c.RefreshWithClientCredentials, c.PKCEOptional, id)
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
	ids := touchable(used)
	if len(ids) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE client_secrets SET last_used_at = ?1
			WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, micros(used[id]), id); err != nil {
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

// touchable returns the IDs in used with a non-zero time, sorted.
func touchable(used map[string]time.Time) []string {
	ids := make([]string, 0, len(used))
	for id, t := range used {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

const clientColumns = `id, name, description, grant_types, scopes, accounts, redirect_uris,
	audience, token_ttl_ns, disabled, created_at, updated_at, website, token_endpoint_auth_method,
	refresh_with_client_credentials, pkce_optional`

const secretColumns = "id, digest, hint, created_at, expires_at, last_used_at"

// getClient reads one client with its secrets.
func getClient(ctx context.Context, q querier, id string) (store.Client, error) {
	c, err := scanClient(q.QueryRowContext(ctx, "SELECT "+clientColumns+" FROM clients WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Client{}, store.ErrNotFound
	}
	if err != nil {
		return store.Client{}, err
	}
	rows, err := q.QueryContext(ctx, "SELECT "+secretColumns+" FROM client_secrets WHERE client_id = ? ORDER BY created_at, seq", id)
	if err != nil {
		return store.Client{}, err
	}
	defer rows.Close()
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return store.Client{}, err
		}
		c.Secrets = append(c.Secrets, sec)
	}
	return c, rows.Err()
}

func scanClient(row scanner) (store.Client, error) {
	var (
		c                                          store.Client
		grantTypes, scopes, accounts, redirectURIs string
		ttl                                        int64
		disabled, refreshCC, pkceOptional          int64
		created, updated                           sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Description, &grantTypes, &scopes, &accounts, &redirectURIs,
		&c.Audience, &ttl, &disabled, &created, &updated, &c.Website, &c.TokenEndpointAuthMethod,
		&refreshCC, &pkceOptional); err != nil {
		return store.Client{}, err
	}
	for _, f := range []struct {
		dst *[]string
		src string
	}{{&c.GrantTypes, grantTypes}, {&c.Scopes, scopes}, {&c.Accounts, accounts}, {&c.RedirectURIs, redirectURIs}} {
		var err error
		if *f.dst, err = parseList(f.src); err != nil {
			return store.Client{}, fmt.Errorf("client %q: %w", c.ID, err)
		}
	}
	c.TokenTTL = time.Duration(ttl)
	c.Disabled = disabled != 0
	c.RefreshWithClientCredentials = refreshCC != 0
	c.PKCEOptional = pkceOptional != 0
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return c, nil
}

// scanSecret scans secretColumns, preceded by the extra destinations.
func scanSecret(row scanner, extra ...any) (store.Secret, error) {
	var (
		sec                        store.Secret
		created, expires, lastUsed sql.NullInt64
	)
	dest := append(extra, &sec.ID, &sec.Digest, &sec.Hint, &created, &expires, &lastUsed)
	if err := row.Scan(dest...); err != nil {
		return store.Secret{}, err
	}
	if len(sec.Digest) == 0 {
		sec.Digest = nil
	}
	sec.CreatedAt = fromMicros(created)
	sec.ExpiresAt = fromMicros(expires)
	sec.LastUsedAt = fromMicros(lastUsed)
	return sec, nil
}

func insertClient(ctx context.Context, tx *sql.Tx, c store.Client) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.Description, jsonList(c.GrantTypes), jsonList(c.Scopes), jsonList(c.Accounts),
		jsonList(c.RedirectURIs), c.Audience, int64(c.TokenTTL), c.Disabled, micros(c.CreatedAt), micros(c.UpdatedAt),
		c.Website, c.TokenEndpointAuthMethod, c.RefreshWithClientCredentials, c.PKCEOptional)
	if isUniqueViolation(err) {
		return store.ErrConflict
	}
	return err
}

func insertSecrets(ctx context.Context, tx *sql.Tx, clientID string, secrets []store.Secret) error {
	for i, sec := range secrets {
		_, err := tx.ExecContext(ctx, `INSERT INTO client_secrets (client_id, seq, `+secretColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			clientID, i, sec.ID, nonNilBytes(sec.Digest), sec.Hint,
			micros(sec.CreatedAt), micros(sec.ExpiresAt), micros(sec.LastUsedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("secret %q: %w", sec.ID, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert secret %q: %w", sec.ID, err)
		}
	}
	return nil
}
