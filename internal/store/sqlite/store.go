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
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// busyTimeout is how long a statement waits for a lock held by another
// connection before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a store.Store on one SQLite database file.
type Store struct {
	*sqlstore.Store
	db     *db
	schema *goose.Provider // reads the applied migration version
}

// dialect is SQLite's SQL where the backends differ. A write transaction
// holds the database's write lock, so no row needs locking; the clock is
// this process's (see nowFunc), read while the transaction holds that
// lock.
var dialect = sqlstore.Dialect{
	Now:      nowFunc + "()",
	ListHas:  "%[2]s IN (SELECT value FROM json_each(%[1]s))",
	TimeType: "INTEGER",
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path, creating
// its parent directory with mode 0700 if it is missing, and applies the
// schema migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	sqlDB, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, sqlDB); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}
	schema, err := newProvider(sqlDB)
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	d := &db{sqlDB: sqlDB, writeSem: make(chan struct{}, 1)}
	return &Store{Store: sqlstore.New(d, dialect), db: d, schema: schema}, nil
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
	// A bounded pool, kept open: opening a connection reads the schema and
	// starts an empty page cache, so under load a pool that closes all but
	// a few idle connections spends its time opening new ones (a cache
	// miss at the token endpoint cost twice as much), and one that grows
	// with the requests in flight holds a page cache for each. Two a CPU
	// keep the CPUs busy (the driver is pure Go: a statement's work is
	// this process's CPU time), and each costs memory, its page cache and
	// its prepared statements: on two CPUs, 4 connections instead of 8
	// took the peak RSS of a million-client run from 185–189 to 157–162
	// MiB at the same spread rate (bench/load.sh; docs/BENCHMARKS.md). Nothing
	// takes a second connection while holding one (the statement cache
	// prepares in the background), so the bound cannot deadlock.
	conns := max(4, 2*runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
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
	s.db.closed.Store(true)
	s.db.stmts.close()
	return s.db.sqlDB.Close()
}

// SchemaVersion returns the applied migration version and the newest
// embedded one.
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int64, err error) {
	applied, latest, err = s.schema.GetVersions(ctx)
	if err = s.db.check(err); err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return applied, latest, nil
}

// check marks an error that means the database cannot be used right now
// (closed, locked by another process for longer than the busy timeout, an
// I/O error, a full disk, a deadline) as store.ErrUnavailable. SQLite has
// no connection to lose, so nothing is retried.
func (d *db) check(err error) error {
	if err != nil && (d.closed.Load() || unavailable(err)) {
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

// codec is how SQLite stores what sqlstore leaves to the dialect: times as
// integer microseconds since the Unix epoch (NULL for the zero time), string
// lists as JSON arrays, booleans as integers.
type codec struct{}

var _ sqlstore.Codec = codec{}

func (codec) Time(t time.Time) any      { return micros(t) }
func (codec) At(t time.Time) any        { return t.UnixMicro() }
func (codec) List(l []string) any       { return jsonList(l) }
func (codec) TimeDest(t *time.Time) any { return microsDest{t} }
func (codec) ListDest(l *[]string) any  { return listDest{l} }
func (codec) BoolDest(b *bool) any      { return boolDest{b} }

// micros encodes t as microseconds since the Unix epoch, NULL for zero.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// microsDest decodes what micros encoded.
type microsDest struct{ t *time.Time }

func (d microsDest) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*d.t = time.Time{}
	if v.Valid {
		*d.t = time.UnixMicro(v.Int64).UTC()
	}
	return nil
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

// listDest decodes a JSON array of strings; an empty one becomes nil.
type listDest struct{ l *[]string }

func (d listDest) Scan(src any) error {
	var s sql.NullString
	if err := s.Scan(src); err != nil {
		return err
	}
	if s.String == "[]" { // most lists of most clients: no need to decode
		*d.l = nil
		return nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s.String), &l); err != nil {
		return fmt.Errorf("decode string list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*d.l = l
	return nil
}

// boolDest decodes an integer: any but 0 is true.
type boolDest struct{ b *bool }

func (d boolDest) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*d.b = v.Int64 != 0
	return nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
