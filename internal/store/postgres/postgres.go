// Package postgres is the PostgreSQL backend of store.Store, built on
// github.com/jackc/pgx/v5. Several Gatehouse processes may share one
// database: UpdateClient locks the client's row (SELECT ... FOR UPDATE) and
// UpdateSigningKeys and RedeemSetupToken take transaction-scoped advisory
// locks, so concurrent read-modify-write cycles are serialised. Change-feed
// times come from the database's clock, and every change-feed entry is also
// signalled with NOTIFY on commit (see WatchChanges).
//
// Times are stored as timestamptz (NULL for the zero time), durations as
// bigint nanoseconds and string lists as text[].
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse/gatehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// keysLockClass is the first key of the advisory lock that serialises
// UpdateSigningKeys; the second is a hash of the current schema, so that
// Gatehouse installations in different schemas of one database do not wait
// for each other.
const keysLockClass = 0x67617465 // "gate"

// migrateLockClass is the high half of the advisory lock that serialises
// migrations; the low half is the same schema hash.
const migrateLockClass = 0x6d696772 // "migr"

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
	// schema reads the applied migration version (without goose's lock).
	schema *goose.Provider
	sqlDB  *sql.DB // schema's database handle, on pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or a key=value
// connection string, as accepted by pgx) and applies the schema migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate postgres database: %w", err)
	}
	// database/sql keeps no connection of its own idle: each use takes
	// one from the pool and gives it back.
	db := stdlib.OpenDBFromPool(pool)
	db.SetMaxIdleConns(0)
	schema, err := newProvider(db)
	if err != nil {
		db.Close()
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, schema: schema, sqlDB: db}, nil
}

// Migrate applies the schema migrations to the database at dsn and returns
// the resulting schema version.
func Migrate(ctx context.Context, dsn string) (int64, error) {
	pool, err := connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	v, err := migrate(ctx, pool)
	if err != nil {
		return 0, fmt.Errorf("migrate postgres database: %w", err)
	}
	return v, nil
}

func connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the connection string, password
		// included.
		return nil, errors.New("open postgres database: invalid connection string")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // connect_timeout not in dsn
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// pgxpool pings a connection that has been idle for a second before
	// handing it out; a retry (see attempt) has every connection pinged,
	// so that it runs on one that works.
	cfg.ShouldPing = func(ctx context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > time.Second || ctx.Value(checkConnKey{}) != nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	return pool, nil
}

// newProvider returns a goose provider of the embedded migrations on db.
func newProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, fsys, append(opts, goose.WithDisableGlobalRegistry(true))...)
}

// migrate applies the embedded migrations under goose's advisory lock, so
// that processes starting together apply each migration once.
func migrate(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	// One migration lock per schema, so that installations in different
	// schemas of one database (and parallel tests) do not wait for each
	// other. goose polls for it once a second, for up to five minutes.
	var schemaHash int32
	if err := pool.QueryRow(ctx, "SELECT hashtext(coalesce(current_schema(), ''))").Scan(&schemaHash); err != nil {
		return 0, fmt.Errorf("read current schema: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(migrateLockClass<<32|int64(uint32(schemaHash))),
		lock.WithLockTimeout(1, 300))
	if err != nil {
		return 0, err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, err
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

// Close closes every connection.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.sqlDB.Close()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	err := s.query(ctx, func(q querier) error {
		_, err := q.Exec(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration version and the newest
// embedded one.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int64, err error) {
	err = s.attempt(ctx, func(ctx context.Context) error {
		applied, latest, err = s.schema.GetVersions(ctx)
		return err
	}, always)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return applied, latest, nil
}

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// read runs fn in a read-only transaction that sees one snapshot.
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return s.attempt(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	}, always)
}

// query runs fn, which only reads, on one connection of the pool, outside
// a transaction.
func (s *Store) query(ctx context.Context, fn func(q querier) error) error {
	return s.attempt(ctx, func(ctx context.Context) error {
		return s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(c) })
	}, always)
}

// write runs fn in a read-write transaction and commits it unless fn fails.
// Every write goes through a transaction, even a single statement, so that
// one whose connection was lost is known not to have committed unless the
// loss came with the COMMIT.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var committing bool
	return s.attempt(ctx, func(ctx context.Context) error {
		committing = false
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
		if err := fn(tx); err != nil {
			return err
		}
		committing = true
		return tx.Commit(ctx)
	}, func(err error) bool {
		// A COMMIT that failed after it was sent may have committed.
		return !committing || pgconn.SafeToRetry(err)
	})
}

// exec runs one statement that writes, in a transaction (see write).
func (s *Store) exec(ctx context.Context, sql string, args ...any) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
}

// defaultConnectTimeout bounds opening a connection when the connection
// string does not (connect_timeout).
const defaultConnectTimeout = 5 * time.Second

// checkConnKey in a context makes the pool ping every connection before
// handing it out (see connect).
type checkConnKey struct{}

func always(error) bool { return true }

// attempt runs op. When op fails because its connection was lost (the
// server terminated it, it was reset or closed) and retryable says the
// failure is safe to retry, op runs once more, on a connection the pool
// has just checked: the others may have been lost too. An error that means
// the database cannot be reached is marked store.ErrUnavailable.
func (s *Store) attempt(ctx context.Context, op func(ctx context.Context) error, retryable func(error) bool) error {
	err := op(ctx)
	if err != nil && connLost(err) && retryable(err) && ctx.Err() == nil && !s.closed.Load() {
		err = op(context.WithValue(ctx, checkConnKey{}, true))
	}
	if err != nil && (s.closed.Load() || unavailable(err)) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// connLost reports whether err says the connection broke: the server
// ended the session (admin_shutdown when pg_terminate_backend killed it,
// crash_shutdown, a connection exception), or the socket failed.
func connLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02"
	}
	var ne net.Error
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) && !ne.Timeout()
}

// unavailable reports whether err means the database cannot be reached or
// did not answer in time, rather than that the operation is wrong.
func unavailable(err error) bool {
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		ne net.Error
	)
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "57P"), // admin, crash shutdown; cannot connect now
			pe.Code == "57014",                // query_canceled: statement_timeout
			pe.Code == "53300":                // too_many_connections
			return true
		}
		return false
	}
	return connLost(err) || errors.As(err, &ce) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// CreateClient inserts c with its secrets and records ev.
func (s *Store) CreateClient(ctx context.Context, c store.Client, ev store.AuditEvent) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO clients (`+clientColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, clientArgs(c)...)
		if isUniqueViolation(err) {
			return store.ErrConflict
		}
		if err != nil {
			return err
		}
		for i, sec := range c.Secrets {
			_, err := tx.Exec(ctx, `INSERT INTO client_secrets (client_id, seq, `+secretColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, secretArgs(c.ID, i, sec)...)
			if isUniqueViolation(err) {
				return fmt.Errorf("secret %q: %w", sec.ID, store.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("insert secret %q: %w", sec.ID, err)
			}
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
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = getClient(ctx, tx, id, false)
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
	err := s.read(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, "SELECT "+clientColumns+" FROM clients ORDER BY id")
		if err != nil {
			return err
		}
		index := make(map[string]int)
		for rows.Next() {
			c, err := scanClient(rows)
			if err != nil {
				rows.Close()
				return err
			}
			index[c.ID] = len(out)
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT client_id, "+secretColumns+` FROM client_secrets
			ORDER BY client_id, created_at NULLS FIRST, seq`)
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

// UpdateClient locks the client's row, lets fn change the client and saves
// the result, all in one transaction.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(*store.Client) error, ev *store.AuditEvent) (store.Client, error) {
	var (
		out   store.Client
		fnErr error
	)
	err := s.write(ctx, func(tx pgx.Tx) error {
		c, err := getClient(ctx, tx, id, true)
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
			refresh_with_client_credentials = $15, pkce_optional = $16 WHERE id = $1`, clientArgs(c)...)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM client_secrets WHERE client_id = $1 AND NOT (id = ANY ($2))", id, ids); err != nil {
			return err
		}
		// Update the kept secrets in place rather than deleting and
		// re-inserting them: a concurrent TouchSecrets waiting on the row
		// lock then applies its newer last-use time on top of ours.
		for i, sec := range c.Secrets {
			tag, err := tx.Exec(ctx, `INSERT INTO client_secrets (client_id, seq, `+secretColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, digest = excluded.digest,
					hint = excluded.hint, created_at = excluded.created_at,
					expires_at = excluded.expires_at, last_used_at = excluded.last_used_at
				WHERE client_secrets.client_id = excluded.client_id`, secretArgs(id, i, sec)...)
			if err != nil {
				return fmt.Errorf("save secret %q: %w", sec.ID, err)
			}
			if tag.RowsAffected() != 1 { // the ID belongs to another client
				return fmt.Errorf("secret %q: %w", sec.ID, store.ErrConflict)
			}
		}
		if err := addChange(ctx, tx, store.ChangeClient, id); err != nil {
			return err
		}
		if err := addAudit(ctx, tx, *ev); err != nil {
			return err
		}
		out, err = getClient(ctx, tx, id, false)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := lockClient(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM clients WHERE id = $1", id); err != nil {
			return err
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
	ids := make([]string, 0, len(used))
	for id, t := range used {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	// Rows are locked in ID order, as lockClient does, so this cannot
	// deadlock with UpdateClient, DeleteClient or another TouchSecrets.
	slices.Sort(ids)
	err := s.write(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, id := range ids {
			b.Queue(`UPDATE client_secrets SET last_used_at = $2
				WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, ts(used[id]))
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("touch %d secrets: %w", len(ids), err)
	}
	return nil
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
			_, err := tx.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted, created_at, active_at)
				VALUES ($1, $2, $3, $4, $5)`, k.ID, k.Algorithm, nonNilBytes(k.Encrypted), ts(k.CreatedAt), ts(k.ActiveAt))
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

// RevokeToken records jti as revoked until expiresAt, stamped with the
// database's clock (the column default, clock_timestamp()). Revoking it
// again keeps the later of the two expiry times and the first stamp.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)`,
		jti, expiresAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	return nil
}

// IsTokenRevoked reports whether jti is recorded as revoked.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.query(ctx, func(q querier) error {
		return q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $1)", jti).Scan(&revoked)
	})
	if err != nil {
		return false, fmt.Errorf("check token revocation: %w", err)
	}
	return revoked, nil
}

// ListRevocations returns the revocations recorded at or after since whose
// tokens expire after now, oldest first.
func (s *Store) ListRevocations(ctx context.Context, since, now time.Time, limit int) ([]store.Revocation, error) {
	var lim *int // NULL: no limit
	if limit > 0 {
		lim = &limit
	}
	var out []store.Revocation
	err := s.query(ctx, func(q querier) error {
		out = nil
		rows, err := q.Query(ctx, `SELECT jti, expires_at, revoked_at FROM revoked_tokens
			WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti COLLATE "C" LIMIT $3`,
			since.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond), lim)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r store.Revocation
			if err := rows.Scan(&r.JTI, &r.ExpiresAt, &r.RevokedAt); err != nil {
				return err
			}
			r.ExpiresAt = r.ExpiresAt.UTC()
			r.RevokedAt = r.RevokedAt.UTC()
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
		args = append(args, f.Target)
		where = append(where, "target = $"+strconv.Itoa(len(args)))
	}
	if f.Action != "" {
		args = append(args, f.Action)
		where = append(where, "action = $"+strconv.Itoa(len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
	}
	var out []store.AuditEvent
	err := s.query(ctx, func(qr querier) error {
		out = nil
		rows, err := qr.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				ev store.AuditEvent
				t  *time.Time
			)
			if err := rows.Scan(&ev.ID, &t, &ev.Actor, &ev.Action, &ev.Target, &ev.Detail); err != nil {
				return err
			}
			ev.Time = fromTS(t)
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
		out = nil
		rows, err := q.Query(ctx, "SELECT kind, target_id, at FROM changes WHERE at >= $1 ORDER BY at, id",
			since.UTC().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.Change
			if err := rows.Scan(&c.Kind, &c.ID, &c.At); err != nil {
				return err
			}
			c.At = c.At.UTC()
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM revoked_tokens WHERE expires_at < $1", now.UTC()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM changes WHERE at < $1", now.Add(-time.Hour).UTC()); err != nil {
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

func clientArgs(c store.Client) []any {
	return []any{c.ID, c.Name, c.Description, nonNilList(c.GrantTypes), nonNilList(c.Scopes),
		nonNilList(c.Accounts), nonNilList(c.RedirectURIs), c.Audience, int64(c.TokenTTL), c.Disabled,
		ts(c.CreatedAt), ts(c.UpdatedAt), c.Website, c.TokenEndpointAuthMethod, c.RefreshWithClientCredentials,
		c.PKCEOptional}
}

func secretArgs(clientID string, seq int, sec store.Secret) []any {
	return []any{clientID, seq, sec.ID, nonNilBytes(sec.Digest), sec.Hint,
		ts(sec.CreatedAt), ts(sec.ExpiresAt), ts(sec.LastUsedAt)}
}

// lockClient locks the client's row and then its secrets' rows, in ID
// order. ErrNotFound if the client does not exist.
func lockClient(ctx context.Context, tx pgx.Tx, id string) error {
	var got string
	err := tx.QueryRow(ctx, "SELECT id FROM clients WHERE id = $1 FOR UPDATE", id).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "SELECT id FROM client_secrets WHERE client_id = $1 ORDER BY id FOR UPDATE", id)
	return err
}

// getClient reads one client with its secrets, locking them first if
// forUpdate is set.
func getClient(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (store.Client, error) {
	if forUpdate {
		if err := lockClient(ctx, tx, id); err != nil {
			return store.Client{}, err
		}
	}
	c, err := scanClient(tx.QueryRow(ctx, "SELECT "+clientColumns+" FROM clients WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Client{}, store.ErrNotFound
	}
	if err != nil {
		return store.Client{}, err
	}
	rows, err := tx.Query(ctx, "SELECT "+secretColumns+` FROM client_secrets WHERE client_id = $1
		ORDER BY created_at NULLS FIRST, seq`, id)
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
		c                store.Client
		ttl              int64
		created, updated *time.Time
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Description, &c.GrantTypes, &c.Scopes, &c.Accounts, &c.RedirectURIs,
		&c.Audience, &ttl, &c.Disabled, &created, &updated, &c.Website, &c.TokenEndpointAuthMethod,
		&c.RefreshWithClientCredentials, &c.PKCEOptional); err != nil {
		return store.Client{}, err
	}
	c.GrantTypes = nilIfEmpty(c.GrantTypes)
	c.Scopes = nilIfEmpty(c.Scopes)
	c.Accounts = nilIfEmpty(c.Accounts)
	c.RedirectURIs = nilIfEmpty(c.RedirectURIs)
	c.TokenTTL = time.Duration(ttl)
	c.CreatedAt = fromTS(created)
	c.UpdatedAt = fromTS(updated)
	return c, nil
}

// scanSecret scans secretColumns, preceded by the extra destinations.
func scanSecret(row scanner, extra ...any) (store.Secret, error) {
	var (
		sec                        store.Secret
		created, expires, lastUsed *time.Time
	)
	dest := append(extra, &sec.ID, &sec.Digest, &sec.Hint, &created, &expires, &lastUsed)
	if err := row.Scan(dest...); err != nil {
		return store.Secret{}, err
	}
	if len(sec.Digest) == 0 {
		sec.Digest = nil
	}
	sec.CreatedAt = fromTS(created)
	sec.ExpiresAt = fromTS(expires)
	sec.LastUsedAt = fromTS(lastUsed)
	return sec, nil
}

func listKeys(ctx context.Context, q querier) ([]store.SigningKey, error) {
	rows, err := q.Query(ctx, `SELECT id, algorithm, encrypted, created_at, active_at FROM signing_keys
		ORDER BY active_at NULLS FIRST, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SigningKey
	for rows.Next() {
		var (
			k               store.SigningKey
			created, active *time.Time
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Encrypted, &created, &active); err != nil {
			return nil, err
		}
		if len(k.Encrypted) == 0 {
			k.Encrypted = nil
		}
		k.CreatedAt = fromTS(created)
		k.ActiveAt = fromTS(active)
		out = append(out, k)
	}
	return out, rows.Err()
}

// addChange appends an entry to the change feed, stamped with the
// database's clock (the column default, clock_timestamp()), and signals
// the feed's listeners (see WatchChanges) on commit.
func addChange(ctx context.Context, tx pgx.Tx, kind, id string) error {
	if _, err := tx.Exec(ctx, "INSERT INTO changes (kind, target_id) VALUES ($1, $2)", kind, id); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return notifyChange(ctx, tx)
}

func addAudit(ctx context.Context, tx pgx.Tx, ev store.AuditEvent) error {
	_, err := tx.Exec(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
		ts(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Detail)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// ts encodes t for a nullable timestamptz column: nil for the zero time,
// otherwise t in UTC truncated to microseconds (pgx would truncate too, but
// say so here).
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// isForeignKeyViolation reports a reference to a row that does not exist.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
