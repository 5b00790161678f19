package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// db is the sqlstore.DB of a SQLite database: every write transaction
// begins IMMEDIATE, taking the database's write lock before it reads, so
// the transactions of every process on the file run one after another.
type db struct {
	codec
	sqlDB  *sql.DB
	closed atomic.Bool
	// writeSem serialises this process's write transactions, so they queue
	// in order here instead of polling SQLite's busy handler. Writers in
	// other processes are serialised by BEGIN IMMEDIATE.
	writeSem chan struct{}
	stmts    stmtCache
}

var _ sqlstore.DB = (*db)(nil)

// nowFunc is the SQL function that returns this process's clock in
// microseconds since the Unix epoch (SQLite's own has milliseconds).
const nowFunc = "gatehouse_now"

func init() {
	sqlite.MustRegisterScalarFunction(nowFunc, 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return time.Now().UnixMicro(), nil
	})
}

// Read runs fn in a read-only transaction, so that it sees one snapshot.
func (d *db) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	tx, err := d.sqlDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return d.check(fmt.Errorf("begin transaction: %w", err))
	}
	defer tx.Rollback()
	return d.check(fn(conn{q: tx, tx: tx, d: d}))
}

// Query runs fn, which only reads, on the database outside a transaction.
func (d *db) Query(_ context.Context, fn func(sqlstore.Tx) error) error {
	return d.check(fn(conn{q: d.sqlDB, d: d}))
}

// Write runs fn in a write (IMMEDIATE) transaction and commits it unless fn
// fails.
func (d *db) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.check(d.write(ctx, fn))
}

func (d *db) write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	select {
	case d.writeSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.writeSem }()
	tx, err := d.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(conn{q: tx, tx: tx, d: d}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Lock does nothing: the write transaction holds the database's write lock.
func (d *db) Lock(context.Context, sqlstore.Tx, sqlstore.Lock) error { return nil }

// Changed does nothing: SQLite has no one to tell; other processes poll.
func (d *db) Changed(context.Context, sqlstore.Tx) error { return nil }

// IsUnique reports a primary-key or unique constraint violation.
func (d *db) IsUnique(err error) bool {
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

// IsForeignKey reports a reference to a row that does not exist.
func (d *db) IsForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// conn is a sqlstore.Tx on a *sql.Tx (tx) or *sql.DB.
type conn struct {
	q  querier
	tx *sql.Tx // nil outside a transaction
	d  *db
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// on returns what runs query: its cached prepared statement (in the
// transaction, if any), or c.q if it has none.
func (c conn) on(ctx context.Context, query string) querier {
	st := c.d.stmts.get(ctx, c.d.sqlDB, query, c.tx != nil)
	if st == nil {
		return c.q
	}
	if c.tx != nil {
		st = c.tx.StmtContext(ctx, st)
	}
	return stmtQuerier{st}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.on(ctx, query).ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.on(ctx, query).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return c.on(ctx, query).QueryRowContext(ctx, query, args...)
}

// stmtQuerier runs a prepared statement; the query text is its own.
type stmtQuerier struct{ st *sql.Stmt }

func (q stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return q.st.ExecContext(ctx, args...)
}

func (q stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return q.st.QueryContext(ctx, args...)
}

func (q stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return q.st.QueryRowContext(ctx, args...)
}

// stmtCache keeps the prepared statements of the first maxCachedStmts
// distinct queries run, so that SQLite does not parse and plan a query on
// every call: that is most of the cost of a short read such as GetClient
// (a cache miss on the token endpoint). database/sql prepares each on every
// connection it runs on, once. The queries are the store's own texts: a
// few hundred, but for those that list many parameters (IN lists), whose
// texts vary with the number of items; past the bound queries run
// unprepared as before.
type stmtCache struct {
	mu   sync.RWMutex
	m    map[string]*sql.Stmt // nil value: being prepared
	full bool
	// bg counts the statements being prepared in the background; close
	// waits for them, so that none takes a connection after the store is
	// closed.
	bg sync.WaitGroup
}

const maxCachedStmts = 512

// get returns query's prepared statement, preparing it if there is room;
// nil if it cannot be cached or prepared (the caller then runs the query
// unprepared, and reports its error). Preparing takes a connection of the
// pool, so a caller in a transaction (holding one) does not wait for it:
// the statement is prepared in the background, for the next call.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string, inTx bool) *sql.Stmt {
	c.mu.RLock()
	st, seen := c.m[query]
	full := c.full
	c.mu.RUnlock()
	if st != nil || seen || full {
		return st
	}
	c.mu.Lock()
	if _, seen := c.m[query]; seen || c.full {
		st := c.m[query]
		c.mu.Unlock()
		return st
	}
	if c.m == nil {
		c.m = make(map[string]*sql.Stmt)
	}
	c.m[query] = nil
	c.full = len(c.m) >= maxCachedStmts
	if inTx {
		c.bg.Add(1) // under mu, so never after close began
		c.mu.Unlock()
		go func() {
			defer c.bg.Done()
			c.prepare(context.WithoutCancel(ctx), db, query)
		}()
		return nil
	}
	c.mu.Unlock()
	return c.prepare(ctx, db, query)
}

// prepare prepares query and caches the statement; if that fails, a later
// call tries again.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	st, err := db.PrepareContext(ctx, query)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.m == nil: // closed meanwhile
		if err == nil {
			st.Close()
		}
		return nil
	case err != nil:
		delete(c.m, query)
		c.full = false
		return nil
	}
	c.m[query] = st
	return st
}

// close closes the cached statements, once the ones being prepared in the
// background are (prepare closes those itself).
func (c *stmtCache) close() {
	c.mu.Lock()
	m := c.m
	c.m, c.full = nil, true
	c.mu.Unlock()
	c.bg.Wait()
	for _, st := range m {
		if st != nil {
			st.Close()
		}
	}
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }
