package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Changes returns the change-feed entries at or after since, oldest first.
func (s *Store) Changes(ctx context.Context, since time.Time) ([]store.Change, error) {
	var out []store.Change
	err := s.query(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, "SELECT kind, target_id, at FROM changes WHERE at >= ? ORDER BY at, id", since.UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c  store.Change
				at int64
			)
			if err := rows.Scan(&c.Kind, &c.ID, &at); err != nil {
				return err
			}
			c.At = time.UnixMicro(at).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
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
