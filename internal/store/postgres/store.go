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
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

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

// list runs query outside a transaction (see query) and scans every row.
func list[T any](ctx context.Context, s *Store, scan func(sqlstore.Codec, sqlstore.Scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.query(ctx, func(q querier) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = sqlstore.Collect(rows, func(row sqlstore.Scanner) (T, error) { return scan(codec{}, row) })
		return err
	})
	return out, err
}

// get runs query outside a transaction (see query) and scans its row; no
// row is store.ErrNotFound.
func get[T any](ctx context.Context, s *Store, scan func(sqlstore.Codec, sqlstore.Scanner) (T, error), query string, args ...any) (T, error) {
	var v T
	err := s.query(ctx, func(q querier) (err error) {
		v, err = scan(codec{}, q.QueryRow(ctx, query, args...))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	return v, err
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

// codec is how PostgreSQL stores what sqlstore leaves to the dialect: times
// as timestamptz (NULL for the zero time), string lists as text[], booleans
// as boolean.
type codec struct{}

var _ sqlstore.Codec = codec{}

func (codec) Time(t time.Time) any      { return ts(t) }
func (codec) List(l []string) any       { return nonNilList(l) }
func (codec) TimeDest(t *time.Time) any { return tsDest{t} }
func (codec) ListDest(l *[]string) any  { return l }
func (codec) BoolDest(b *bool) any      { return b }

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

// tsDest decodes a nullable timestamptz: the zero time for NULL, otherwise
// the time in UTC.
type tsDest struct{ t *time.Time }

func (d tsDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.t = time.Time{}
	if !v.Valid {
		return nil
	}
	if v.InfinityModifier != pgtype.Finite {
		return fmt.Errorf("cannot scan an infinite timestamptz into a time")
	}
	*d.t = v.Time.UTC()
	return nil
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
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

// prunePeople deletes expired sessions, authorization codes that expired
// more than an hour ago and expired refresh token families.
func prunePeople(ctx context.Context, tx pgx.Tx, now time.Time) error {
	if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE expires_at < $1", now.UTC()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM auth_codes WHERE expires_at < $1", now.Add(-time.Hour).UTC()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM refresh_families WHERE expires_at < $1", now.UTC())
	return err
}

// insertErr maps the constraint violations of an INSERT (see
// sqlstore.InsertErr).
func insertErr(err error, referenced string) error {
	return sqlstore.InsertErr(err, referenced, isUniqueViolation, isForeignKeyViolation)
}
