package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// SyncQuotaCounts records node's counts and presence, prunes what ended,
// and reads the other nodes' counts and the number of active nodes, in one
// write transaction: one round trip's worth of statements a second per
// node, however many tokens it issues.
func (s *Store) SyncQuotaCounts(ctx context.Context, node string, now, activeSince time.Time, counts []store.QuotaCount) ([]store.QuotaCount, int, error) {
	var (
		others []store.QuotaCount
		nodes  int
	)
	err := s.db.Write(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO quota_nodes (node_id, seen_at) VALUES ($1, $2)
			ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at`, node, s.db.At(now)); err != nil {
			return err
		}
		for _, c := range counts {
			if _, err := tx.Exec(ctx, `INSERT INTO quota_counts (node_id, client_id, window_ns, window_end, count)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (node_id, client_id, window_ns, window_end) DO UPDATE SET count = excluded.count`,
				node, c.ClientID, int64(c.Window), s.db.At(c.End), c.Count); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM quota_counts WHERE window_end <= $1", s.db.At(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM quota_nodes WHERE seen_at < $1", s.db.At(now.Add(-time.Hour))); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM quota_nodes WHERE seen_at >= $1 OR node_id = $2",
			s.db.At(activeSince), node).Scan(&nodes); err != nil {
			return err
		}
		var err error
		others, err = queryAll(ctx, s.db, tx, ScanQuotaCount, `SELECT client_id, window_ns, window_end, CAST(SUM(count) AS BIGINT)
			FROM quota_counts WHERE node_id <> $1 AND window_end > $2
			GROUP BY client_id, window_ns, window_end`, node, s.db.At(now))
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("sync quota counts: %w", err)
	}
	return others, nodes, nil
}

// QuotaCounts returns the client's counts of the windows that have not
// ended, summed over the nodes.
func (s *Store) QuotaCounts(ctx context.Context, clientID string, now time.Time) ([]store.QuotaCount, error) {
	out, err := list(ctx, s, ScanQuotaCount, `SELECT client_id, window_ns, window_end, CAST(SUM(count) AS BIGINT)
		FROM quota_counts WHERE client_id = $1 AND window_end > $2
		GROUP BY client_id, window_ns, window_end ORDER BY window_ns, window_end`, clientID, s.db.At(now))
	if err != nil {
		return nil, fmt.Errorf("quota counts of %q: %w", clientID, err)
	}
	return out, nil
}

// ScanQuotaCount scans client_id, window_ns, window_end and a count.
func ScanQuotaCount(c Codec, row Scanner) (store.QuotaCount, error) {
	var (
		q  store.QuotaCount
		ns int64
	)
	if err := row.Scan(&q.ClientID, &ns, c.TimeDest(&q.End), &q.Count); err != nil {
		return store.QuotaCount{}, err
	}
	q.Window = time.Duration(ns)
	return q, nil
}
