package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Tx runs statements in one transaction of a backend, or on one of its
// connections outside a transaction (see DB.Query). Statements number
// their parameters $1, $2, …, which both PostgreSQL and SQLite read.
type Tx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a statement that returns rows; the caller closes them.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a statement that returns at most one row. Its Scan
	// returns sql.ErrNoRows when there was none.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
}

// Lock names a lock that serialises read-modify-write cycles that have no
// row to lock.
type Lock int

// The locks.
const (
	// LockSigningKeys serialises UpdateSigningKeys.
	LockSigningKeys Lock = iota + 1
	// LockSetup serialises RedeemSetupToken.
	LockSetup
)

// DB is a backend's database: how it runs transactions and how it tells
// its errors apart. Everything else about a dialect is in its Codec and its
// Dialect.
type DB interface {
	Codec
	// Read runs fn in a read-only transaction that sees one snapshot.
	Read(ctx context.Context, fn func(Tx) error) error
	// Query runs fn, which only reads, outside a transaction.
	Query(ctx context.Context, fn func(Tx) error) error
	// Write runs fn in a read-write transaction and commits it unless fn
	// fails. fn may run more than once (a backend retries a transaction
	// whose connection was lost before it committed).
	Write(ctx context.Context, fn func(Tx) error) error
	// Lock takes l until tx ends. A backend whose write transactions
	// exclude each other already does nothing.
	Lock(ctx context.Context, tx Tx, l Lock) error
	// Changed is called in every transaction that adds to the change feed
	// or records a revocation, after it did.
	Changed(ctx context.Context, tx Tx) error
	// IsUnique reports a unique or primary-key violation.
	IsUnique(err error) bool
	// IsForeignKey reports a reference to a row that does not exist.
	IsForeignKey(err error) bool
}

// Dialect is the SQL that differs between the backends.
type Dialect struct {
	// ForUpdate follows a SELECT whose rows the transaction goes on to
	// change: " FOR UPDATE" where that locks them, "" where a write
	// transaction holds the whole database.
	ForUpdate string
	// Now is the expression of the database's clock, for the times that
	// order the change feed and the revocation feed.
	Now string
	// Bytewise follows a text column in ORDER BY to compare bytes, as Go
	// does, rather than by the locale's rules.
	Bytewise string
	// ListHas is a condition that a string list (%[1]s: a list column, or
	// a parameter given as Codec.List) holds a value (%[2]s: a parameter,
	// or a column, which an index then serves).
	ListHas string
	// TimeType is the SQL type of a time value (Codec.Time), for CAST.
	TimeType string
}

// Store is a store.Store on db, but for what a backend adds (opening,
// migrations, SchemaVersion, Close). Backends embed it.
type Store struct {
	db DB
	d  Dialect

	revObs revocationObservers // see ObserveRevocations
}

// New returns a Store on db in dialect d.
func New(db DB, d Dialect) *Store { return &Store{db: db, d: d} }

// exec runs one statement that writes, in a write transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.db.Write(ctx, func(tx Tx) (err error) {
		n, err = tx.Exec(ctx, query, args...)
		return err
	})
	return n, err
}

// list runs query outside a transaction and scans every row.
func list[T any](ctx context.Context, s *Store, scan func(Codec, Scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.db.Query(ctx, func(tx Tx) (err error) {
		out, err = queryAll(ctx, s.db, tx, scan, query, args...)
		return err
	})
	return out, err
}

// queryAll runs query on tx and scans every row.
func queryAll[T any](ctx context.Context, c Codec, tx Tx, scan func(Codec, Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return Collect(rows, func(row Scanner) (T, error) { return scan(c, row) })
}

// get runs query outside a transaction and scans its row; no row is
// store.ErrNotFound.
func get[T any](ctx context.Context, s *Store, scan func(Codec, Scanner) (T, error), query string, args ...any) (T, error) {
	var v T
	err := s.db.Query(ctx, func(tx Tx) (err error) {
		v, err = queryOne(ctx, s.db, tx, scan, query, args...)
		return err
	})
	return v, err
}

// queryOne runs query on tx and scans its row; no row is
// store.ErrNotFound.
func queryOne[T any](ctx context.Context, c Codec, tx Tx, scan func(Codec, Scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(c, tx.QueryRow(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	return v, err
}

// insertErr maps the constraint violations of an INSERT: a duplicate key
// is store.ErrConflict, a reference to a missing row (the referenced one)
// store.ErrNotFound.
func (s *Store) insertErr(err error, referenced string) error {
	switch {
	case err == nil:
		return nil
	case s.db.IsUnique(err):
		return store.ErrConflict
	case referenced != "" && s.db.IsForeignKey(err):
		return fmt.Errorf("%s: %w", referenced, store.ErrNotFound)
	}
	return err
}

// Stored is t as it reads back from the database: in UTC, to the
// microsecond.
func Stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// addChange appends an entry to the change feed, stamped with the
// database's clock.
func (s *Store) addChange(ctx context.Context, tx Tx, kind, id string) error {
	if _, err := tx.Exec(ctx, "INSERT INTO changes (kind, target_id, at) VALUES ($1, $2, "+s.d.Now+")", kind, id); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return s.db.Changed(ctx, tx)
}

// Changes returns the change-feed entries at or after since, oldest first.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	out, err := list(ctx, s, ScanChange, "SELECT "+ChangeColumns+" FROM changes WHERE at >= $1 ORDER BY at, id", s.db.At(since))
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}

// ChangesAfter returns a page of the change feed: at most limit entries
// after (after.At, after.Seq), oldest first. The changes_by_time index
// (at, id) serves it.
func (s *Store) ChangesAfter(ctx context.Context, after store.Change, limit int) ([]store.Change, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read change feed: the limit must be positive, not %d", limit)
	}
	out, err := list(ctx, s, ScanChange, "SELECT "+ChangeColumns+" FROM changes WHERE (at, id) > ($1, $2) ORDER BY at, id LIMIT $3",
		s.db.At(after.At), after.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}

// LastChange returns the newest change-feed entry; the zero Change if
// there is none.
func (s *Store) LastChange(ctx context.Context) (store.Change, error) {
	out, err := list(ctx, s, ScanChange, "SELECT "+ChangeColumns+" FROM changes ORDER BY at DESC, id DESC LIMIT 1")
	if err != nil {
		return store.Change{}, fmt.Errorf("read change feed: %w", err)
	}
	if len(out) == 0 {
		return store.Change{}, nil
	}
	return out[0], nil
}

// addAudit records ev.
func (s *Store) addAudit(ctx context.Context, tx Tx, ev store.AuditEvent) error {
	_, err := tx.Exec(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
		AuditArgs(s.db, ev)...)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// RecordAudit records ev on its own.
func (s *Store) RecordAudit(ctx context.Context, ev store.AuditEvent) error {
	return s.db.Write(ctx, func(tx Tx) error { return s.addAudit(ctx, tx, ev) })
}

// ListAudit returns the audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := AuditQuery(s.db, f)
	out, err := list(ctx, s, ScanAuditEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

// Prune deletes revocations (of tokens and of clients' tokens) that
// expired before now, change-feed entries older than an hour before now,
// expired sessions, authorization codes that expired more than an hour
// ago, expired refresh token families, setup tokens and set-password
// tokens, and expired idempotency records.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		for _, p := range []struct {
			table, column string
			before        time.Time
		}{
			{"revoked_tokens", "expires_at", now},
			{"client_revocations", "expires_at", now},
			{"changes", "at", now.Add(-time.Hour)},
			{"sessions", "expires_at", now},
			{"auth_codes", "expires_at", now.Add(-time.Hour)},
			{"refresh_families", "expires_at", now},
			{"setup_tokens", "expires_at", now},
			{"password_tokens", "expires_at", now},
			{"client_assertion_jtis", "expires_at", now},
			{"initial_access_tokens", "expires_at", now},
			{"idempotency_keys", "expires_at", now.Add(time.Microsecond)}, // at or before now
		} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+p.table+" WHERE "+p.column+" < $1", s.db.At(p.before)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}
