package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
)

// changesChannel is the LISTEN/NOTIFY channel on which every write to the
// change feed, and every revocation, is signalled. The payload is the
// schema written to, since installations in different schemas of one
// database share the channel.
const changesChannel = "gatehouse_changes"

// listenCheck is how long a listening connection may be quiet before it is
// checked with a ping, so that a connection lost without a word (a network
// cut) is noticed and replaced.
const listenCheck = 30 * time.Second

// notifyChange signals the change feed's listeners. PostgreSQL delivers the
// notification when tx commits, and not at all if it rolls back; several
// in one transaction are delivered once.
func notifyChange(ctx context.Context, tx sqlstore.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, coalesce(current_schema(), ''))", changesChannel); err != nil {
		return fmt.Errorf("notify change: %w", err)
	}
	return nil
}

// WatchChanges calls notify soon after any process commits an entry to the
// change feed of this store's schema, or a revocation, and once as soon as it is listening.
// It listens on a connection of its own, outside the pool, until ctx is done
// (it returns nil) or the connection fails (it returns the error; the
// caller may call it again). notify must not block.
func (s *Store) WatchChanges(ctx context.Context, notify func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.db.pool.Config().ConnConfig.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen for changes: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		conn.Close(cctx)
		cancel()
	}()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		return listenErr(ctx, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return listenErr(ctx, err)
	}
	notify()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenCheck)
		n, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			if n.Channel == changesChannel && n.Payload == schema {
				notify()
			}
		case ctx.Err() != nil:
			return nil
		case quiet:
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return listenErr(ctx, err)
			}
		default:
			return listenErr(ctx, err)
		}
	}
}

func listenErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("listen for changes: %w", err)
}
