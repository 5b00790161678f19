package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// CreateClient inserts c with its secrets and records ev.
func (s *Store) CreateClient(ctx context.Context, c store.Client, ev store.AuditEvent) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		return s.insertClient(ctx, tx, c, ev)
	})
	if err != nil {
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	return nil
}

// insertClient inserts c (with its secrets) and records ev.
func (s *Store) insertClient(ctx context.Context, tx Tx, c store.Client, ev store.AuditEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO clients (`+ClientColumns+`)`+Values(ClientColumns), ClientArgs(s.db, c)...)
	if err := s.insertErr(err, ""); err != nil {
		return err
	}
	for i, sec := range c.Secrets {
		_, err := tx.Exec(ctx, `INSERT INTO client_secrets (client_id, seq, `+SecretColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, SecretArgs(s.db, c.ID, i, sec)...)
		if err := s.insertErr(err, ""); err != nil {
			return fmt.Errorf("secret %q: %w", sec.ID, err)
		}
	}
	if err := s.addChange(ctx, tx, store.ChangeClient, c.ID); err != nil {
		return err
	}
	return s.addAudit(ctx, tx, ev)
}

// GetClient returns the client with its secrets.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	// One statement outside a transaction (one snapshot all the same):
	// this is the token endpoint's cache miss.
	var c store.Client
	err := s.db.Query(ctx, func(tx Tx) (err error) {
		c, err = s.getClient(ctx, tx, id, false)
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
	err := s.db.Read(ctx, func(tx Tx) (err error) {
		out, err = queryAll(ctx, s.db, tx, ScanClient, "SELECT "+ClientColumns+" FROM clients ORDER BY id")
		if err != nil {
			return err
		}
		return s.addSecrets(ctx, tx, out, "")
	})
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// ListClientPage returns a page of the clients that match q, ordered by ID,
// with their secrets.
func (s *Store) ListClientPage(ctx context.Context, q store.ClientQuery) ([]store.Client, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("list clients: the limit must be positive, not %d", q.Limit)
	}
	where := []string{"id" + s.d.Bytewise + " > $1"}
	args := []any{q.After}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Search != "" {
		p := param("%" + likeEscaper.Replace(strings.ToLower(q.Search)) + "%")
		where = append(where, "(lower(id) LIKE "+p+` ESCAPE '\' OR lower(name) LIKE `+p+` ESCAPE '\')`)
	}
	if q.Account != "" {
		where = append(where, fmt.Sprintf(s.d.ListHas, "accounts", param(q.Account)))
	}
	if q.Owner != "" {
		where = append(where, "accounts = "+param(s.db.List([]string{q.Owner})))
	}
	if q.SelfRegistered != "" {
		where = append(where, "self_registered = "+param(q.SelfRegistered))
	}
	if !q.IdleBefore.IsZero() {
		p := param(s.db.At(q.IdleBefore))
		where = append(where, "created_at < "+p, "(used_at IS NULL OR used_at < "+p+")",
			"NOT EXISTS (SELECT 1 FROM client_secrets WHERE client_secrets.client_id = clients.id AND client_secrets.last_used_at >= "+p+")")
	}
	query := "SELECT " + ClientColumns + " FROM clients WHERE " + strings.Join(where, " AND ") +
		" ORDER BY id" + s.d.Bytewise + " LIMIT " + param(q.Limit)
	var out []store.Client
	err := s.db.Read(ctx, func(tx Tx) (err error) {
		out, err = queryAll(ctx, s.db, tx, ScanClient, query, args...)
		if err != nil || len(out) == 0 {
			return err
		}
		in := make([]string, len(out))
		ids := make([]any, len(out))
		for i, c := range out {
			in[i] = "$" + strconv.Itoa(i+1)
			ids[i] = c.ID
		}
		return s.addSecrets(ctx, tx, out, "WHERE client_id IN ("+strings.Join(in, ", ")+")", ids...)
	})
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// addSecrets reads the secrets of the clients in out (those that match
// where) and adds them to their clients.
func (s *Store) addSecrets(ctx context.Context, tx Tx, out []store.Client, where string, args ...any) error {
	rows, err := tx.Query(ctx, "SELECT client_id, "+SecretColumns+" FROM client_secrets "+where+
		" ORDER BY client_id, created_at NULLS FIRST, seq", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return AddSecrets(s.db, rows, out)
}

// likeEscaper escapes the wildcards of a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// UpdateClient locks the client's row, lets fn change the client and saves
// the result, all in one transaction.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error, ev *store.AuditEvent) (store.Client, error) {
	var (
		out   store.Client
		fnErr error
	)
	err := s.db.Write(ctx, func(tx Tx) error {
		c, err := s.getClient(ctx, tx, id, true)
		if err != nil {
			return err
		}
		before := slices.Clone(c.Secrets) // fn may change c.Secrets in place
		if err := fn(&c); err != nil {
			fnErr = err
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update function changed the client ID to %q", c.ID)
		}
		ids := make([]string, 0, len(c.Secrets))
		for _, sec := range c.Secrets {
			if slices.Contains(ids, sec.ID) {
				return fmt.Errorf("secret %q twice: %w", sec.ID, store.ErrConflict)
			}
			ids = append(ids, sec.ID)
		}
		_, err = tx.Exec(ctx, `UPDATE clients SET name = $2, description = $3, grant_types = $4,
			scopes = $5, accounts = $6, redirect_uris = $7, audience = $8, token_ttl_ns = $9,
			disabled = $10, created_at = $11, updated_at = $12, website = $13, token_endpoint_auth_method = $14,
			refresh_with_client_credentials = $15, pkce_optional = $16,
			jwks = $17, jwks_uri = $18, resources = $19, dpop_required = $20, self_registered = $21,
			registration_token_digest = $22, used_at = $23, quota_per_minute = $24, quota_per_hour = $25,
			reuse_min_remaining = $26 WHERE id = $1`, ClientArgs(s.db, c)...)
		if err != nil {
			return err
		}
		for _, sec := range before {
			if !slices.Contains(ids, sec.ID) {
				if _, err := tx.Exec(ctx, "DELETE FROM client_secrets WHERE client_id = $1 AND id = $2", id, sec.ID); err != nil {
					return err
				}
			}
		}
		// Update the kept secrets in place rather than deleting and
		// re-inserting them: a concurrent TouchSecrets waiting on the row
		// lock then applies its newer last-use time on top of ours.
		for i, sec := range c.Secrets {
			n, err := tx.Exec(ctx, `INSERT INTO client_secrets (client_id, seq, `+SecretColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,
					hint = excluded.hint, created_at = excluded.created_at,
					expires_at = excluded.expires_at, last_used_at = excluded.last_used_at
				WHERE client_secrets.client_id = excluded.client_id`, SecretArgs(s.db, id, i, sec)...)
			if err != nil {
				return fmt.Errorf("save secret %q: %w", sec.ID, err)
			}
			if n != 1 { // the ID belongs to another client
				return fmt.Errorf("secret %q: %w", sec.ID, store.ErrConflict)
			}
		}
		if err := s.addChange(ctx, tx, store.ChangeClient, id); err != nil {
			return err
		}
		if err := s.addAudit(ctx, tx, *ev); err != nil {
			return err
		}
		out, err = s.getClient(ctx, tx, id, false)
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
func (s *Store) DeleteClient(ctx context.Context, id string, check func(store.Client) error, ev store.AuditEvent) error {
	var checkErr error
	err := s.db.Write(ctx, func(tx Tx) error {
		checkErr = nil
		if check == nil {
			if err := s.lockClient(ctx, tx, id); err != nil {
				return err
			}
		} else {
			c, err := s.getClient(ctx, tx, id, true)
			if err != nil {
				return err
			}
			if checkErr = check(c); checkErr != nil {
				return checkErr
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM clients WHERE id = $1", id); err != nil {
			return err
		}
		if err := s.addChange(ctx, tx, store.ChangeClient, id); err != nil {
			return err
		}
		return s.addAudit(ctx, tx, ev)
	})
	if checkErr != nil {
		return checkErr
	}
	if err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	return nil
}

// TouchSecrets moves secrets' last-use times forward, in multi-row
// statements. Rows are locked in ID order, the order in which lockClient
// locks them, so this cannot deadlock with UpdateClient, DeleteClient or
// another TouchSecrets.
func (s *Store) TouchSecrets(ctx context.Context, used map[string]time.Time) error {
	ids := Touchable(used)
	if len(ids) == 0 {
		return nil
	}
	err := s.db.Write(ctx, func(tx Tx) error {
		return inBatches(ids, func(batch []string) error {
			if s.d.ForUpdate != "" { // the UPDATE's join may visit rows in any order
				if _, err := tx.Exec(ctx, "SELECT id FROM client_secrets WHERE "+fmt.Sprintf(s.d.ListHas, "$1", "id")+
					" ORDER BY id"+s.d.ForUpdate, s.db.List(batch)); err != nil {
					return err
				}
			}
			args := make([]any, 0, 2*len(batch))
			for _, id := range batch {
				args = append(args, id, s.db.Time(used[id]))
			}
			_, err := tx.Exec(ctx, `UPDATE client_secrets SET last_used_at = v.column2
				FROM (VALUES `+valueRows(len(batch), "", s.d.TimeType)+`) AS v
				WHERE client_secrets.id = v.column1
				AND (client_secrets.last_used_at IS NULL OR client_secrets.last_used_at < v.column2)`, args...)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("touch %d secrets: %w", len(ids), err)
	}
	return nil
}

// TouchClients moves clients' last-use times forward, in ID order (the
// order in which lockClient locks client rows).
func (s *Store) TouchClients(ctx context.Context, used map[string]time.Time) error {
	ids := Touchable(used)
	if len(ids) == 0 {
		return nil
	}
	err := s.db.Write(ctx, func(tx Tx) error {
		for _, id := range ids {
			if _, err := tx.Exec(ctx, `UPDATE clients SET used_at = $2
				WHERE id = $1 AND (used_at IS NULL OR used_at < $2)`, id, s.db.Time(used[id])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch %d clients: %w", len(ids), err)
	}
	return nil
}

// lockClient locks the client's row and then its secrets' rows, in ID
// order. ErrNotFound if the client does not exist.
func (s *Store) lockClient(ctx context.Context, tx Tx, id string) error {
	if _, err := queryOne(ctx, s.db, tx, scanString, "SELECT id FROM clients WHERE id = $1"+s.d.ForUpdate, id); err != nil {
		return err
	}
	if s.d.ForUpdate == "" {
		return nil
	}
	_, err := tx.Exec(ctx, "SELECT id FROM client_secrets WHERE client_id = $1 ORDER BY id"+s.d.ForUpdate, id)
	return err
}

// getClient reads one client with its secrets, locking them first if
// forUpdate is set.
func (s *Store) getClient(ctx context.Context, tx Tx, id string, forUpdate bool) (store.Client, error) {
	if forUpdate {
		if err := s.lockClient(ctx, tx, id); err != nil {
			return store.Client{}, err
		}
	}
	rows, err := tx.Query(ctx, clientWithSecretsQuery, id)
	if err != nil {
		return store.Client{}, err
	}
	defer rows.Close()
	return scanClientWithSecrets(s.db, rows)
}

func scanString(_ Codec, row Scanner) (string, error) {
	var v string
	err := row.Scan(&v)
	return v, err
}
