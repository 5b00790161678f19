package postgres

import (
	"context"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

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
	if v != 5 {
		t.Errorf("Migrate: got schema version %d, want 5", v)
	}
	var applied int
	if err := stores[0].pool.QueryRow(t.Context(), "SELECT count(*) FROM goose_db_version WHERE version_id = 1").Scan(&applied); err != nil {
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

// TestMigrateRevocationFeed upgrades a database with revocations recorded
// before the revocation feed existed: they are listed, stamped with the
// time of the upgrade.
func TestMigrateRevocationFeed(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	pool, err := connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatalf("migrate to version 1: %v", err)
	}
	exp := time.Now().Add(time.Hour)
	for _, jti := range []string{"z", "a", "m"} {
		if _, err := pool.Exec(ctx, "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)", jti, exp); err != nil {
			t.Fatal(err)
		}
	}

	before := time.Now()
	s := openTest(t, dsn)
	after := time.Now()
	got, err := s.ListRevocations(ctx, time.Time{}, time.Now(), 0)
	if err != nil {
		t.Fatalf("ListRevocations: %v", err)
	}
	var jtis []string
	for _, r := range got {
		jtis = append(jtis, r.JTI)
		// The database's clock may be another machine's.
		if r.RevokedAt.Before(before.Add(-time.Minute)) || r.RevokedAt.After(after.Add(time.Minute)) {
			t.Errorf("%q: RevokedAt = %v, want the time of the upgrade (%v to %v)", r.JTI, r.RevokedAt, before, after)
		}
	}
	slices.Sort(jtis)
	if want := []string{"a", "m", "z"}; !slices.Equal(jtis, want) {
		t.Errorf("ListRevocations after the upgrade: got %q, want %q", jtis, want)
	}
}

// TestMigratePeople upgrades a database with a client made before the
// people migration: it reads back with the new fields empty. The
// migration can be rolled back and applied again.
func TestMigratePeople(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := t.Context()
	pool, err := connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatalf("migrate to version 2: %v", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO clients (id, name, description, audience, token_ttl_ns, disabled)
		VALUES ('old', 'Old', '', '', 0, false)`); err != nil {
		t.Fatal(err)
	}
	for i, step := range []func() error{
		func() error { _, err := p.Up(ctx); return err },
		func() error { _, err := p.DownTo(ctx, 2); return err },
		func() error { _, err := p.Up(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("migration step %d: %v", i+1, err)
		}
	}

	s := openTest(t, dsn)
	got, err := s.GetClient(ctx, "old")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if want := (store.Client{ID: "old", Name: "Old"}); !reflect.DeepEqual(got, want) {
		t.Errorf("client from before the migration: got %+v, want %+v", got, want)
	}
}

// TestWatchChanges: a change committed through one store wakes the
// watcher of another store on the same schema (another node) at once, and
// not one on another schema.
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
