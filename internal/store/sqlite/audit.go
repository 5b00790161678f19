package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// ListAudit returns the audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := sqlstore.AuditQuery(f, func(int) string { return "?" })
	var out []store.AuditEvent
	err := s.query(ctx, func(qr querier) error {
		rows, err := qr.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = sqlstore.Collect(rows, scanAuditEvent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func scanAuditEvent(row sqlstore.Scanner) (store.AuditEvent, error) {
	return sqlstore.ScanAuditEvent(codec{}, row)
}

func addAudit(ctx context.Context, tx *sql.Tx, ev store.AuditEvent) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		sqlstore.AuditArgs(codec{}, ev)...)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
