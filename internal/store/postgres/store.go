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
	"syscall"
	"time"

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
	*sqlstore.Store
	db *db
	// schema reads the applied migration version (without goose's lock).
	schema *goose.Provider
	sqlDB  *sql.DB // schema's database handle, on the pool
}

// dialect is PostgreSQL's SQL where the backends differ.
var dialect = sqlstore.Dialect{
	ForUpdate: " FOR UPDATE",
	Now:       "clock_timestamp()",
	Bytewise:  ` COLLATE "C"`,
	ListHas:   "%[2]s = ANY (%[1]s)",
	TimeType:  "TIMESTAMPTZ",
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
	sqlDB := stdlib.OpenDBFromPool(pool)
	sqlDB.SetMaxIdleConns(0)
	schema, err := newProvider(sqlDB)
	if err != nil {
		sqlDB.Close()
		pool.Close()
		return nil, err
	}
	d := &db{pool: pool}
	return &Store{Store: sqlstore.New(d, dialect), db: d, schema: schema, sqlDB: sqlDB}, nil
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
	s.db.closed.Store(true)
	s.sqlDB.Close()
	s.db.pool.Close()
	return nil
}

// SchemaVersion returns the applied migration version and the newest
// embedded one.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int64, err error) {
	err = s.db.attempt(ctx, func(ctx context.Context) error {
		applied, latest, err = s.schema.GetVersions(ctx)
		return err
	}, always)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return applied, latest, nil
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
func (d *db) attempt(ctx context.Context, op func(ctx context.Context) error, retryable func(error) bool) error {
	err := op(ctx)
	if err != nil && connLost(err) && retryable(err) && ctx.Err() == nil && !d.closed.Load() {
		err = op(context.WithValue(ctx, checkConnKey{}, true))
	}
	if err != nil && (d.closed.Load() || unavailable(err)) {
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

// codec is how PostgreSQL stores what sqlstore leaves to the dialect: times
// as timestamptz (NULL for the zero time), string lists as text[], booleans
// as boolean.
type codec struct{}

var _ sqlstore.Codec = codec{}

func (codec) Time(t time.Time) any      { return ts(t) }
func (codec) At(t time.Time) any        { return sqlstore.Stored(t) }
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
