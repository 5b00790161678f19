package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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
	return d.check(fn(conn{tx}))
}

// Query runs fn, which only reads, on the database outside a transaction.
func (d *db) Query(_ context.Context, fn func(sqlstore.Tx) error) error {
	return d.check(fn(conn{d.sqlDB}))
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
	if err := fn(conn{tx}); err != nil {
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

// conn is a sqlstore.Tx on a *sql.Tx or *sql.DB.
type conn struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return c.q.QueryRowContext(ctx, query, args...)
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }
