package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func openTest(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, pgtest.DSN(t))
	})
}

// TestConcurrentOpen stands in for several processes starting at once on a
// new database: each migration must be applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("Open #%d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	v, err := Migrate(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if v != 14 {
		t.Errorf("Migrate: got schema version %d, want 14", v)
	}
	var applied int
	if err := stores[0].db.pool.QueryRow(t.Context(), "SELECT count(*) FROM goose_db_version WHERE version_id = 1").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("migration 1 recorded %d times, want once", applied)
	}
}

// TestSchemaIsolation checks that the store works in the schema named by
// search_path and nowhere else.
func TestSchemaIsolation(t *testing.T) {
	a := openTest(t, pgtest.DSN(t))
	b := openTest(t, pgtest.DSN(t))
	ctx := t.Context()
	if err := a.CreateClient(ctx, store.Client{ID: "only-in-a"}, store.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	list, err := b.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("a client created in one schema is visible in another: %+v", list)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, dsn := range []string{
		"postgres://user:hunter2@127.0.0.1:1/db?connect_timeout=1",
		"postgres://user:hunter2@[::1/db",
		"host=127.0.0.1 port=notaport password=hunter2",
	} {
		_, err := Open(ctx, dsn)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error reveals the password: %v", err)
		}
	}
}

// legacy returns a new database for the tests of the migrations.
func legacy(t *testing.T) storetest.Legacy {
	dsn := pgtest.DSN(t)
	pool, err := connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { db.Close() })
	p, err := newProvider(db)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Legacy{
		Migrations: p,
		Exec: func(query string, args ...any) error {
			_, err := pool.Exec(t.Context(), query, args...)
			return err
		},
		At:   func(at time.Time) any { return codec{}.At(at) },
		Open: func() store.Store { return openTest(t, dsn) },
	}
}

func TestMigrateRevocationFeed(t *testing.T) {
	storetest.MigrateRevocationFeed(t, legacy(t), time.Minute)
}

func TestMigratePeople(t *testing.T) { storetest.MigratePeople(t, legacy(t)) }

func TestMigrateClientRevocations(t *testing.T) {
	storetest.MigrateClientRevocations(t, legacy(t))
}

// TestWatchChanges: a change or a revocation committed through one store
// wakes the watcher of another store on the same schema (another node) at
// once, and not one on another schema.
func TestWatchChanges(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn), openTest(t, dsn)
	other := openTest(t, pgtest.DSN(t))
	ctx, cancel := context.WithCancel(t.Context())
	notified := make(chan time.Time, 100)
	done := make(chan error, 1)
	go func() {
		done <- b.WatchChanges(ctx, func() {
			select {
			case notified <- time.Now():
			default:
			}
		})
	}()
	wait := func(what string) time.Time {
		t.Helper()
		select {
		case at := <-notified:
			return at
		case err := <-done:
			t.Fatalf("%s: WatchChanges returned %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no notification within 10s", what)
		}
		return time.Time{}
	}
	wait("listening")

	if err := other.CreateClient(ctx, store.Client{ID: "elsewhere"}, store.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.CreateClient(ctx, store.Client{ID: "c1"}, store.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	at := wait("client created by another store")
	t.Logf("notified %v after the creating transaction began", at.Sub(start))
	select {
	case <-notified:
		t.Error("a second notification: the change in another schema woke this one")
	case <-time.After(200 * time.Millisecond):
	}

	disabled := func(c *store.Client) error { c.Disabled = true; return nil }
	start = time.Now()
	if _, err := a.UpdateClient(ctx, "c1", disabled, &store.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	at = wait("client updated by another store")
	t.Logf("notified %v after the updating transaction began", at.Sub(start))

	// Revocations wake it too: every node's revocation set reads them at once.
	if err := a.RevokeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	wait("token revoked by another store")
	if err := a.RevokeClientTokens(ctx, "c1", time.Now(), time.Now().Add(time.Hour), nil, store.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	wait("client's tokens revoked by another store")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchChanges after cancel: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("WatchChanges did not return after cancel")
	}
}

func BenchmarkStore(b *testing.B) {
	s, err := Open(b.Context(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.Benchmark(b, s)
}
