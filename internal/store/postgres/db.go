package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// db is the sqlstore.DB of a PostgreSQL database: transactions on a pgx
// pool, retried once when their connection was lost (see attempt).
type db struct {
	codec
	pool   *pgxpool.Pool
	closed atomic.Bool
}

var _ sqlstore.DB = (*db)(nil)

// Read runs fn in a read-only transaction that sees one snapshot.
func (d *db) Read(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.attempt(ctx, func(ctx context.Context) error {
		return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
			func(tx pgx.Tx) error { return fn(conn{tx}) })
	}, always)
}

// Query runs fn, which only reads, on one connection of the pool, outside
// a transaction.
func (d *db) Query(ctx context.Context, fn func(sqlstore.Tx) error) error {
	return d.attempt(ctx, func(ctx context.Context) error {
		return d.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return fn(conn{c}) })
	}, always)
}

// Write runs fn in a read-write transaction (READ COMMITTED) and commits it
// unless fn fails. Every write goes through a transaction, even a single
// statement, so that one whose connection was lost is known not to have
// committed unless the loss came with the COMMIT.
func (d *db) Write(ctx context.Context, fn func(sqlstore.Tx) error) error {
	var committing bool
	return d.attempt(ctx, func(ctx context.Context) error {
		committing = false
		tx, err := d.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
		if err := fn(conn{tx}); err != nil {
			return err
		}
		committing = true
		return tx.Commit(ctx)
	}, func(err error) bool {
		// A COMMIT that failed after it was sent may have committed.
		return !committing || pgconn.SafeToRetry(err)
	})
}

// lockClasses are the first keys of the transaction-scoped advisory locks;
// the second is a hash of the current schema, so that Gatehouse
// installations in different schemas of one database do not wait for each
// other.
var lockClasses = map[sqlstore.Lock]int32{
	sqlstore.LockSigningKeys: 0x67617465, // "gate"
	sqlstore.LockSetup:       0x73657475, // "setu"
}

// Lock takes an advisory lock held until the transaction ends. The next
// statement then reads with a fresh snapshot (READ COMMITTED), so it sees
// what the previous holder committed.
func (d *db) Lock(ctx context.Context, tx sqlstore.Tx, l sqlstore.Lock) error {
	class, ok := lockClasses[l]
	if !ok {
		return fmt.Errorf("no lock %d", l)
	}
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))", class)
	return err
}

// Changed signals the change feed's listeners (see WatchChanges).
func (d *db) Changed(ctx context.Context, tx sqlstore.Tx) error { return notifyChange(ctx, tx) }

// IsUnique reports a unique_violation.
func (d *db) IsUnique(err error) bool { return pgCode(err) == "23505" }

// IsForeignKey reports a foreign_key_violation.
func (d *db) IsForeignKey(err error) bool { return pgCode(err) == "23503" }

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// conn is a sqlstore.Tx on a pgx transaction or pooled connection.
type conn struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, query, args...)
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Scanner {
	return row{c.q.QueryRow(ctx, query, args...)}
}

// row reports no row as sql.ErrNoRows, as sqlstore.Tx promises.
type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}
