// Package sqlstore is what the two SQL backends of store.Store (sqlite and
// postgres) have in common: the column lists, the arguments that write a
// domain value into its columns, the scanning of a row back into one, and
// the error mapping they share. Where the dialects store a value
// differently (times, string lists, booleans) the backend passes its Codec.
//
// The SQL statements, the transactions and the locking stay in the
// backends: that is where the dialects really differ.
package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Codec is how a dialect stores the values whose representation differs.
type Codec interface {
	// Time is the argument for a nullable time column: NULL for the zero
	// time.
	Time(t time.Time) any
	// List is the argument for a string-list column; nil is stored as an
	// empty list.
	List(l []string) any
	// TimeDest is a Scan destination for a nullable time column that sets
	// *t in UTC, the zero time for NULL.
	TimeDest(t *time.Time) any
	// ListDest is a Scan destination for a string-list column.
	ListDest(l *[]string) any
	// BoolDest is a Scan destination for a boolean column.
	BoolDest(b *bool) any
}

// Scanner is a row to scan: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Rows is what *sql.Rows and pgx.Rows have in common, but Close (which the
// caller defers).
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Collect scans every row with scan.
func Collect[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// InsertErr maps the constraint violations of an INSERT, as the dialect's
// unique and foreignKey recognise them: a duplicate key is
// store.ErrConflict, a reference to a missing row (the referenced one)
// store.ErrNotFound.
func InsertErr(err error, referenced string, unique, foreignKey func(error) bool) error {
	switch {
	case err == nil:
		return nil
	case unique(err):
		return store.ErrConflict
	case foreignKey(err):
		return fmt.Errorf("%s: %w", referenced, store.ErrNotFound)
	}
	return err
}

// UsernameKey is the form of a username that the unique index compares.
func UsernameKey(username string) string { return strings.ToLower(username) }

// Touchable returns the IDs in used with a non-zero time, sorted.
func Touchable(used map[string]time.Time) []string {
	ids := make([]string, 0, len(used))
	for id, t := range used {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// AuditQuery returns the SELECT of the audit events that match f, newest
// first, and its arguments; placeholder(n) is the dialect's n-th parameter.
func AuditQuery(f store.AuditFilter, placeholder func(n int) string) (string, []any) {
	q := "SELECT " + AuditColumns + " FROM audit_events"
	var (
		where []string
		args  []any
	)
	if f.Target != "" {
		args = append(args, f.Target)
		where = append(where, "target = "+placeholder(len(args)))
	}
	if f.Action != "" {
		args = append(args, f.Action)
		where = append(where, "action = "+placeholder(len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += " LIMIT " + placeholder(len(args))
	}
	return q, args
}

// NonNilBytes stores nil as an empty byte string (the columns are NOT NULL).
func NonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
