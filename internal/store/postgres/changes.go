package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// Changes returns the change-feed entries at or after since, oldest first.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	out, err := list(ctx, s, sqlstore.ScanChange, "SELECT "+sqlstore.ChangeColumns+" FROM changes WHERE at >= $1 ORDER BY at, id",
		since.UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("read change feed: %w", err)
	}
	return out, nil
}

// addChange appends an entry to the change feed, stamped with the
// database's clock (the column default, clock_timestamp()), and signals
// the feed's listeners (see WatchChanges) on commit.
func addChange(ctx context.Context, tx pgx.Tx, kind, id string) error {
	if _, err := tx.Exec(ctx, "INSERT INTO changes (kind, target_id) VALUES ($1, $2)", kind, id); err != nil {
		return fmt.Errorf("record change: %w", err)
	}
	return notifyChange(ctx, tx)
}
