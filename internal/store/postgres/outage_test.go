package postgres

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// withAppName names the connections of a DSN, so that a test can find
// them in pg_stat_activity.
func withAppName(t *testing.T, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Skipf("%s is not a URL; cannot add application_name", pgtest.EnvVar)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// terminate kills every backend whose application_name is name, as an
// administrator or a failover would, and waits until they are gone (and
// have told their clients so). It returns how many it killed.
func terminate(t *testing.T, dsn, name string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		var left int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
			name).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d terminated backends still listed", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKilledConnectionsRetried: after the server terminates every
// connection of the pool (pg_terminate_backend, a failover, a restart),
// the next call of each kind succeeds, retried once on a fresh connection:
// reads always, writes because their transaction did not commit.
func TestKilledConnectionsRetried(t *testing.T) {
	base := pgtest.DSN(t)
	name := "gh_outage_" + time.Now().Format("150405.000000")
	dsn := withAppName(t, base, name)
	s := openTest(t, dsn)
	ctx := t.Context()
	if err := s.CreateClient(ctx, store.Client{ID: "c", Name: "c"}, store.AuditEvent{Action: "client.create"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"GetClient (read transaction)", func() error { _, err := s.GetClient(ctx, "c"); return err }},
		{"IsTokenRevoked (read)", func() error { _, err := s.IsTokenRevoked(ctx, "j", "c", time.Now()); return err }},
		{"ListRevocations (read)", func() error { _, err := s.ListRevocations(ctx, time.Time{}, time.Now(), 10); return err }},
		{"RevokeToken (single-statement write)", func() error { return s.RevokeToken(ctx, "j", time.Now().Add(time.Hour)) }},
		{"UpdateClient (write transaction)", func() error {
			_, err := s.UpdateClient(ctx, "c", func(c *store.Client) error { c.Name = "renamed"; return nil },
				&store.AuditEvent{Action: "client.update"})
			return err
		}},
		{"RevokeClientTokens (write transaction)", func() error {
			return s.RevokeClientTokens(ctx, "c", time.Now(), time.Now().Add(time.Hour), nil, store.AuditEvent{Action: "client.revoke_tokens"})
		}},
		{"SchemaVersion", func() error { _, _, err := s.SchemaVersion(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Several pooled connections, all used within the last second,
			// so the pool hands them out without a ping.
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if _, err := s.IsTokenRevoked(ctx, "warm", "c", time.Now()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := terminate(t, base, name); n == 0 {
				t.Fatal("no backend terminated")
			}
			if err := tc.op(); err != nil {
				t.Fatalf("first call after the connections were killed: %v", err)
			}
		})
	}
	if got, err := s.GetClient(ctx, "c"); err != nil || got.Name != "renamed" {
		t.Errorf("client after the retried update: got %q, %v; want renamed", got.Name, err)
	}
}

// TestDatabaseDown: with the server gone (here: a port nobody listens on),
// calls fail with store.ErrUnavailable, not a bare driver error.
func TestDatabaseDown(t *testing.T) {
	s := openTest(t, pgtest.DSN(t))
	// Point the pool at a dead port: its idle connections still work, so
	// drop them, then every new connection is refused.
	cfg := s.db.pool.Config()
	cfg.ConnConfig.Port = 1
	dead, err := newPoolForTest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.db.pool.Close()
	s.db.pool = dead
	_, err = s.IsTokenRevoked(t.Context(), "j", "c", time.Now())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("IsTokenRevoked with the database down: got %v, want store.ErrUnavailable", err)
	}
	err = s.RevokeToken(t.Context(), "j", time.Now().Add(time.Hour))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("RevokeToken with the database down: got %v, want store.ErrUnavailable", err)
	}
}

func newPoolForTest(cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	return pgxpool.NewWithConfig(context.Background(), cfg)
}
