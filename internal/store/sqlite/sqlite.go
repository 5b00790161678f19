// Package sqlite is the embedded SQLite backend of store.Store, built on the
// pure-Go driver modernc.org/sqlite.
//
// The database runs in WAL mode with synchronous=FULL, foreign keys on and a
// 10 s busy timeout, and every write transaction begins IMMEDIATE: it takes the
// database's write lock before it reads anything, so writers from several
// goroutines or processes queue up instead of failing or deadlocking.
//
// Times are stored as integer microseconds since the Unix epoch (NULL for the
// zero time), durations as integer nanoseconds and string lists as JSON
// arrays.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/store"
)

// busyTimeout is how long a statement waits for a lock held by another
// connection before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a store.Store on one SQLite database file.
type Store struct {
	db     *sql.DB
	closed atomic.Bool
	schema *goose.Provider // reads the applied migration version
	// writeSem serialises this process's write transactions, so they queue
	// in order here instead of polling SQLite's busy handler. Writers in
	// other processes are serialised by BEGIN IMMEDIATE.
	writeSem chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path, creating
// its parent directory with mode 0700 if it is missing, and applies the
// schema migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}
	schema, err := newProvider(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, schema: schema, writeSem: make(chan struct{}, 1)}, nil
}

// Migrate applies the schema migrations to the database at path (creating
// it if needed) and returns the resulting schema version.
func Migrate(ctx context.Context, path string) (int64, error) {
	db, err := openDB(ctx, path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	v, err := migrate(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}
	return v, nil
}

// openDB opens the database file with Gatehouse's connection settings.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("open sqlite database: empty path")
	}
	// The driver reads everything after the first '?' as its parameters.
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("open sqlite database %q: the path must not contain '?'", path)
	}
	// An absolute path can never be mistaken for a "file:" URI.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite database %s: create directory: %w", path, err)
	}
	// Create the file ourselves so that it (and the -wal and -shm files,
	// which SQLite creates with the database file's mode) is private.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	f.Close()

	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", abs+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db.SetMaxIdleConns(4)
	if err := setWAL(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	return db, nil
}

// setWAL switches the database to write-ahead logging, which is a property
// of the file, not of the connection. SQLite may answer SQLITE_BUSY at once,
// without waiting, while another connection is making the same switch, so
// try again for as long as the busy timeout.
func setWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("set WAL journal mode: the database stays in %q mode", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("set WAL journal mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// newProvider returns a goose provider of the embedded migrations on db.
func newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
}

// migrate applies the embedded migrations and returns the schema version.
func migrate(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, err
	}
	before, _, err := p.GetVersions(ctx)
	if err != nil {
		return 0, err
	}
	// goose has no lock for SQLite: two processes starting on a new database
	// may both try to apply the same migration, and the second one fails.
	// As long as someone else made progress in the meantime, look again.
	for {
		_, upErr := p.Up(ctx)
		if upErr == nil {
			break
		}
		after, target, err := p.GetVersions(ctx)
		if err != nil || after <= before || ctx.Err() != nil {
			return 0, upErr
		}
		if after >= target {
			break
		}
		before = after
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return 0, err
	}
	if current > target {
		return 0, fmt.Errorf("database schema version %d is newer than this build of gatehouse supports (%d)", current, target)
	}
	return current, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.db.Close()
}

// Ping checks that the database can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	err := s.query(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration version and the newest
// embedded one.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int64, err error) {
	applied, latest, err = s.schema.GetVersions(ctx)
	if err = s.check(err); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return applied, latest, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in a write (IMMEDIATE) transaction and commits it unless fn
// fails.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.check(s.writeTx(ctx, fn))
}

func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case s.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writeSem }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction, so that it sees one snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.check(fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback()
	return s.check(fn(tx))
}

// query runs fn, which only reads, on the database outside a transaction.
func (s *Store) query(_ context.Context, fn func(q querier) error) error {
	return s.check(fn(s.db))
}

// check marks an error that means the database cannot be used right now
// (closed, locked by another process for longer than the busy timeout, an
// I/O error, a full disk, a deadline) as store.ErrUnavailable. SQLite has
// no connection to lose, so nothing is retried.
func (s *Store) check(err error) error {
	if err != nil && (s.closed.Load() || unavailable(err)) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone)
}

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
			_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted, created_at, active_at)
				VALUES (?, ?, ?, ?, ?)`, k.ID, k.Algorithm, nonNilBytes(k.Encrypted), micros(k.CreatedAt), micros(k.ActiveAt))
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

// RevokeToken records jti as revoked until expiresAt, stamped with this
// process's clock while the transaction holds the write lock. Revoking it
// again keeps the later of the two expiry times and the first stamp.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
			ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
			jti, expiresAt.UnixMicro(), time.Now().UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether jti is recorded as revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.query(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, "SELECT 1 FROM revoked_tokens WHERE jti = ?", jti).Scan(&one)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return true, nil
}

// ListRevocations returns the revocations recorded at or after since whose
// tokens expire after now, oldest first.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	if limit <= 0 {
		limit = -1 // no limit
	}
	var out []store.Revocation
	err := s.query(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT jti, expires_at, revoked_at FROM revoked_tokens
			WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at, jti LIMIT ?`,
			since.UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				r            store.Revocation
				exp, revoked int64
			)
			if err := rows.Scan(&r.JTI, &exp, &revoked); err != nil {
				return err
			}
			r.ExpiresAt = time.UnixMicro(exp).UTC()
			r.RevokedAt = time.UnixMicro(revoked).UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	return out, nil
}

// ListAudit returns the audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q := "SELECT id, time, actor, action, target, detail FROM audit_events"
	var (
		where []string
		args  []any
	)
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	var out []store.AuditEvent
	err := s.query(ctx, func(qr querier) error {
		rows, err := qr.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				ev store.AuditEvent
				t  sql.NullInt64
			)
			if err := rows.Scan(&ev.ID, &t, &ev.Actor, &ev.Action, &ev.Target, &ev.Detail); err != nil {
				return err
			}
			ev.Time = fromMicros(t)
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// Changes returns the change-feed entries at or after since, oldest first.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	var out []store.Change
	err := s.query(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, "SELECT kind, target_id, at FROM changes WHERE at >= ? ORDER BY at, id", since.UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c  store.Change
				at int64
			)
			if err := rows.Scan(&c.Kind, &c.ID, &at); err != nil {
				return err
			}
			c.At = time.UnixMicro(at).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}

// Prune deletes revocations that expired before now, change-feed entries
// older than an hour before now, and expired sessions, authorization codes,
// refresh token families and setup tokens (see store.Store).
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM revoked_tokens WHERE expires_at < ?", now.UnixMicro()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE at < ?", now.Add(-time.Hour).UnixMicro()); err != nil {
			return err
		}
		if err := prunePeople(ctx, tx, now); err != nil {
			return err
		}
		return pruneSetupTokens(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
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

type scanner interface{ Scan(dest ...any) error }

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

func listKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.QueryContext(ctx, "SELECT id, algorithm, encrypted, created_at, active_at FROM signing_keys ORDER BY active_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var (
			k               store.SigningKey
			created, active sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Encrypted, &created, &active); err != nil {
			return nil, err
		}
		if len(k.Encrypted) == 0 {
			k.Encrypted = nil
		}
		k.CreatedAt = fromMicros(created)
		k.ActiveAt = fromMicros(active)
		out = append(out, k)
	}
	return out, rows.Err()
}

// addChange appends an entry to the change feed, stamped with this
// process's clock while the transaction holds the write lock.
func addChange(ctx context.Context, tx *sql.Tx, kind, id string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO changes (kind, target_id, at) VALUES (?, ?, ?)", kind, id, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return nil
}

func addAudit(ctx context.Context, tx *sql.Tx, ev store.AuditEvent) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		micros(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Detail)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// micros encodes t as microseconds since the Unix epoch, NULL for zero.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// jsonList encodes a string list as a JSON array; nil becomes "[]".
func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

// parseList decodes a JSON array of strings; an empty one becomes nil.
func parseList(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// isForeignKeyViolation reports a reference to a client or user that does
// not exist.
func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}
