package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
		args = append(args, f.Target)
		where = append(where, "target = $"+strconv.Itoa(len(args)))
	}
	if f.Action != "" {
		args = append(args, f.Action)
		where = append(where, "action = $"+strconv.Itoa(len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
	}
	var out []store.AuditEvent
	err := s.query(ctx, func(qr querier) error {
		out = nil
		rows, err := qr.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				ev store.AuditEvent
				t  *time.Time
			)
			if err := rows.Scan(&ev.ID, &t, &ev.Actor, &ev.Action, &ev.Target, &ev.Detail); err != nil {
				return err
			}
			ev.Time = fromTS(t)
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func addAudit(ctx context.Context, tx pgx.Tx, ev store.AuditEvent) error {
	_, err := tx.Exec(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
		ts(ev.Time), ev.Actor, ev.Action, ev.Target, ev.Detail)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
