package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
)

// ListAudit returns the audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q := "SELECT id, time, actor, action, target, detail FROM audit_events"
	var (
		where []string
		args  []any
	)
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	var out []store.AuditEvent
	err := s.query(ctx, func(qr querier) error {
		rows, err := qr.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				ev store.AuditEvent
				t  sql.NullInt64
			)
			if err := rows.Scan(&ev.ID, &t, &ev.Actor, &ev.Action, &ev.Target, &ev.Detail); err != nil {
				return err
			}
			ev.Time = fromMicros(t)
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func addAudit(ctx context.Context, tx *sql.Tx, ev store.AuditEvent) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		micros(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Detail)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
