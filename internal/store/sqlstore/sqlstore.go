// Package sqlstore is store.Store written once for the SQL backends
// (sqlite, postgres): every statement, column list and scan. A backend
// supplies a DB (how it runs transactions, takes locks and tells its errors
// apart), a Codec (how it stores times, string lists and booleans) and a
// Dialect (the few fragments of SQL that differ), and adds opening,
// migrating and closing the database.
//
// Concurrency: a read-modify-write (UpdateClient, UpdateUser, DeleteUser,
// RedeemPasswordToken, UpdateConsent, RotateRefreshToken) first selects the
// rows it changes with Dialect.ForUpdate, and one without a row to lock
// takes a DB.Lock. On PostgreSQL those are row locks and advisory locks and
// every statement after them reads a fresh snapshot (READ COMMITTED); on
// SQLite every write transaction holds the database's write lock from its
// start.
package sqlstore

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Codec is how a dialect stores the values whose representation differs.
type Codec interface {
	// Time is the argument for a nullable time column: NULL for the zero
	// time.
	Time(t time.Time) any
	// At is the argument that compares t with a time column.
	At(t time.Time) any
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

// Rows are the rows a query returned.
type Rows interface {
	Scanner
	Next() bool
	Err() error
	Close()
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
// first, and its arguments.
func AuditQuery(c Codec, f store.AuditFilter) (string, []any) {
	q := "SELECT " + AuditColumns + " FROM audit_events"
	var (
		where []string
		args  []any
	)
	cond := func(expr string, v any) {
		args = append(args, v)
		where = append(where, expr+" $"+strconv.Itoa(len(args)))
	}
	if f.Target != "" {
		cond("target =", f.Target)
	}
	if f.Action != "" {
		cond("action =", f.Action)
	}
	if f.Actor != "" {
		cond("actor =", f.Actor)
	}
	if !f.Since.IsZero() {
		cond("time >=", c.At(f.Since))
	}
	if f.Before > 0 {
		cond("id <", f.Before)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
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
