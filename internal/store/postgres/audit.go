package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// ListAudit returns the audit events that match f, newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	q, args := sqlstore.AuditQuery(f, func(n int) string { return "$" + strconv.Itoa(n) })
	out, err := list(ctx, s, sqlstore.ScanAuditEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return out, nil
}

func addAudit(ctx context.Context, tx pgx.Tx, ev store.AuditEvent) error {
	_, err := tx.Exec(ctx, "INSERT INTO audit_events (time, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
		sqlstore.AuditArgs(codec{}, ev)...)
	if err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}
