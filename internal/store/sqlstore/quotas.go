package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
)

// SyncQuotas reads the other nodes' entries, lets fn decide this node's,
// and writes them, in one write transaction: one round trip's worth of
// statements a second per node, however many tokens it issues.
func (s *Store) SyncQuotas(ctx context.Context, node string, now, seenAfter, activeSince time.Time, fn func(others []store.QuotaCount, nodes int) []store.QuotaCount) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO quota_nodes (node_id, seen_at) VALUES ($1, $2)
			ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at WHERE quota_nodes.seen_at < $3`,
			node, s.db.At(now), s.db.At(seenAfter)); err != nil {
			return err
		}
		var nodes int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM quota_nodes WHERE seen_at >= $1 OR node_id = $2",
			s.db.At(activeSince), node).Scan(&nodes); err != nil {
			return err
		}
		others, err := queryAll(ctx, s.db, tx, ScanQuotaCount, `SELECT client_id, window_ns, window_end,
			CAST(SUM(count) AS BIGINT), CAST(SUM(reserved) AS BIGINT)
			FROM quota_counts WHERE node_id <> $1 AND window_end > $2
			GROUP BY client_id, window_ns, window_end`, node, s.db.At(now))
		if err != nil {
			return err
		}
		for _, c := range fn(others, nodes) {
			if _, err := tx.Exec(ctx, `INSERT INTO quota_counts (node_id, client_id, window_ns, window_end, count, reserved)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (node_id, client_id, window_ns, window_end)
				DO UPDATE SET count = excluded.count, reserved = excluded.reserved`,
				node, c.ClientID, int64(c.Window), s.db.At(c.End), c.Count, c.Reserved); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM quota_counts WHERE window_end < $1", s.db.At(activeSince)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM quota_nodes WHERE seen_at < $1", s.db.At(now.Add(-time.Hour)))
		return err
	})
	if err != nil {
		return fmt.Errorf("sync quotas: %w", err)
	}
	return nil
}

// QuotaCounts returns the client's counts of the windows that have not
// ended, summed over the nodes.
func (s *Store) QuotaCounts(ctx context.Context, clientID string, now time.Time) ([]store.QuotaCount, error) {
	out, err := list(ctx, s, ScanQuotaCount, `SELECT client_id, window_ns, window_end,
		CAST(SUM(count) AS BIGINT), CAST(SUM(reserved) AS BIGINT) FROM quota_counts WHERE client_id = $1 AND window_end > $2
		GROUP BY client_id, window_ns, window_end ORDER BY window_ns, window_end`, clientID, s.db.At(now))
	if err != nil {
		return nil, fmt.Errorf("quota counts of %q: %w", clientID, err)
	}
	return out, nil
}

// ScanQuotaCount scans client_id, window_ns, window_end, a count and a
// reservation.
func ScanQuotaCount(c Codec, row Scanner) (store.QuotaCount, error) {
	var (
		q  store.QuotaCount
		ns int64
	)
	if err := row.Scan(&q.ClientID, &ns, c.TimeDest(&q.End), &q.Count, &q.Reserved); err != nil {
		return store.QuotaCount{}, err
	}
	q.Window = time.Duration(ns)
	return q, nil
}
