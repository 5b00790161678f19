package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// Changes returns the change-feed entries at or after since, oldest first.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	out, err := list(ctx, s, sqlstore.ScanChange, "SELECT "+sqlstore.ChangeColumns+" FROM changes WHERE at >= ? ORDER BY at, id", since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}

// addChange appends an entry to the change feed, stamped with this
// process's clock while the transaction holds the write lock.
func addChange(ctx context.Context, tx *sql.Tx, kind, id string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO changes (kind, target_id, at) VALUES (?, ?, ?)", kind, id, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return nil
}
