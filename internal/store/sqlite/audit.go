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
	out, err := list(ctx, s, sqlstore.ScanAuditEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func addAudit(ctx context.Context, tx *sql.Tx, ev store.AuditEvent) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		sqlstore.AuditArgs(codec{}, ev)...)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
