package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlstore"
	"github.com/gatehouse/gatehouse/internal/store/storetest"
)

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
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
		return openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

func TestOpenSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "gatehouse.db")
	s := openTemp(t, path)

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("data directory: %v", err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("data directory mode: got %v, want %v", got, want)
	}
	fi, err = os.Stat(path)
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("database file mode: got %v, want %v", got, want)
	}

	// Every pooled connection gets the settings, so ask on several at once.
	ctx := t.Context()
	var conns []interface{ Close() error }
	for range 3 {
		conn, err := s.db.sqlDB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		tests := []struct {
			pragma string
			want   string
		}{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"foreign_keys", "1"},
			{"busy_timeout", "10000"},
		}
		for _, tt := range tests {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s: got %q, want %q", tt.pragma, got, tt.want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}

	v, err := Migrate(ctx, path)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if v != 14 {
		t.Errorf("Migrate: got schema version %d, want 14", v)
	}
}

// TestBeginImmediate checks that write transactions take the write lock at
// BEGIN: a second writer waits there instead of failing later with
// SQLITE_BUSY when it tries to upgrade a read lock.
func TestBeginImmediate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a := openTemp(t, path)
	b := openTemp(t, path)
	ctx := t.Context()

	tx, err := a.db.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// Without IMMEDIATE this would start a read, not take the write lock.
	conn, err := b.db.sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, "INSERT INTO revoked_tokens (jti, expires_at) VALUES ('x', 0)")
	if err == nil {
		t.Fatal("a second connection could write while a transaction was open; want SQLITE_BUSY")
	}
}

func TestOpenRejectsQueryInPath(t *testing.T) {
	_, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db?mode=ro"))
	if err == nil {
		t.Fatal("Open with '?' in the path succeeded, want an error")
	}
}

// TestTwoStoresOneFile stands in for two processes sharing a database.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")

	// Both open (and migrate) a new database at the same time.
	var (
		stores [2]*Store
		wg     sync.WaitGroup
	)
	for i := range stores {
		wg.Go(func() {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Errorf("concurrent Open #%d: %v", i, err)
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
	a, b := stores[0], stores[1]
	ctx := t.Context()

	c := store.Client{ID: "shared", Name: "shared", Secrets: []store.Secret{{ID: "s0", Digest: []byte{1}}}}
	if err := a.CreateClient(ctx, c, store.AuditEvent{Action: "client.create", Target: "shared"}); err != nil {
		t.Fatalf("CreateClient on a: %v", err)
	}
	got, err := b.GetClient(ctx, "shared")
	if err != nil {
		t.Fatalf("GetClient on b: %v", err)
	}
	if got.Name != "shared" || len(got.Secrets) != 1 {
		t.Errorf("b sees %+v, want the client a created", got)
	}

	// Writers on both stores at once: none may fail with SQLITE_BUSY and
	// no update may be lost.
	const perStore = 15
	for i, s := range []*Store{a, b} {
		for j := range perStore {
			wg.Go(func() {
				id := fmt.Sprintf("s%d-%02d", i, j)
				_, err := s.UpdateClient(ctx, "shared", func(c *store.Client) error {
					c.Secrets = append(c.Secrets, store.Secret{ID: id, Digest: []byte{2}, CreatedAt: time.Unix(int64(j), 0)})
					return nil
				}, &store.AuditEvent{Action: "client.update", Target: "shared"})
				if err != nil {
					t.Errorf("UpdateClient %s: %v", id, err)
				}
				if err := s.TouchSecrets(ctx, map[string]time.Time{"s0": time.Now()}); err != nil {
					t.Errorf("TouchSecrets %s: %v", id, err)
				}
				if err := s.RevokeToken(ctx, id, time.Now().Add(time.Hour)); err != nil {
					t.Errorf("RevokeToken %s: %v", id, err)
				}
				if _, err := s.GetClient(ctx, "shared"); err != nil {
					t.Errorf("GetClient %s: %v", id, err)
				}
			})
		}
	}
	wg.Wait()

	for name, s := range map[string]*Store{"a": a, "b": b} {
		got, err := s.GetClient(ctx, "shared")
		if err != nil {
			t.Fatalf("GetClient on %s: %v", name, err)
		}
		if want := 1 + 2*perStore; len(got.Secrets) != want {
			t.Errorf("store %s sees %d secrets, want %d", name, len(got.Secrets), want)
		}
		revoked, err := s.IsTokenRevoked(ctx, "s1-00", "shared", time.Now())
		if err != nil || !revoked {
			t.Errorf("store %s: IsTokenRevoked(s1-00) = %v, %v; want true, nil", name, revoked, err)
		}
	}
	if err := b.DeleteClient(ctx, "shared", nil, store.AuditEvent{Action: "client.delete"}); err != nil {
		t.Fatalf("DeleteClient on b: %v", err)
	}
	if _, err := a.GetClient(ctx, "shared"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient on a after delete on b: got error %v, want ErrNotFound", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// As if a later version of gatehouse had migrated the database.
	_, err = s.db.sqlDB.ExecContext(t.Context(), "INSERT INTO goose_db_version (version_id, is_applied) VALUES (99, 1)")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open on a database with schema version 99: got error %v, want one saying the schema is newer", err)
	}
}

// legacy returns a new database for the tests of the migrations.
func legacy(t *testing.T) storetest.Legacy {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := openDB(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := newProvider(db)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Legacy{
		Migrations: p,
		Exec: func(query string, args ...any) error {
			_, err := db.ExecContext(t.Context(), query, args...)
			return err
		},
		At:   func(at time.Time) any { return codec{}.At(at) },
		Open: func() store.Store { return openTemp(t, path) },
	}
}

// TestMigrateRevocationFeed: the upgraded revocations are stamped one
// microsecond apart in the order they were recorded.
func TestMigrateRevocationFeed(t *testing.T) {
	got := storetest.MigrateRevocationFeed(t, legacy(t), time.Second)
	var jtis []string
	for i, r := range got {
		jtis = append(jtis, r.JTI)
		if i > 0 && got[i].RevokedAt.Sub(got[i-1].RevokedAt) != time.Microsecond {
			t.Errorf("%q: RevokedAt = %v, want 1µs after %q's %v", r.JTI, r.RevokedAt, got[i-1].JTI, got[i-1].RevokedAt)
		}
	}
	if want := []string{"z", "a", "m"}; !slices.Equal(jtis, want) {
		t.Errorf("ListRevocations after the upgrade: got %q, want %q", jtis, want)
	}
}

func TestMigratePeople(t *testing.T) { storetest.MigratePeople(t, legacy(t)) }

func TestMigrateClientRevocations(t *testing.T) {
	storetest.MigrateClientRevocations(t, legacy(t))
}

func BenchmarkStore(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.Benchmark(b, s)
}

// TestStatementCache: the store's queries run as prepared statements,
// prepared once (SQLite's parsing was most of the cost of GetClient), and
// the cache of them is bounded.
func TestStatementCache(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx := t.Context()
	c := store.Client{ID: "a", Name: "a", Secrets: []store.Secret{{ID: "s1", Digest: make([]byte, 32), Hint: "h"}}}
	if err := s.CreateClient(ctx, c, store.AuditEvent{Action: "client.create", Target: "a"}); err != nil {
		t.Fatal(err)
	}
	cached := func() map[string]*sql.Stmt {
		s.db.stmts.mu.RLock()
		defer s.db.stmts.mu.RUnlock()
		return maps.Clone(s.db.stmts.m)
	}
	// GetClient reads in one statement outside a transaction, prepared on
	// its first call (statements first run in a transaction are prepared
	// in the background, after it).
	var before map[string]*sql.Stmt
	var reads []string
	for deadline := time.Now().Add(10 * time.Second); len(reads) < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("after GetClient, the cached statements do not include its queries: %q", slices.Collect(maps.Keys(before)))
		}
		if _, err := s.GetClient(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		before, reads = cached(), nil
		for q, st := range before {
			if st != nil && strings.Contains(q, "FROM clients LEFT JOIN client_secrets") {
				reads = append(reads, q)
			}
		}
	}
	for range 3 {
		got, err := s.GetClient(ctx, "a")
		if err != nil || len(got.Secrets) != 1 {
			t.Fatalf("GetClient = %+v, %v", got, err)
		}
	}
	if _, err := s.GetClient(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient(missing) = %v, want ErrNotFound", err)
	}
	after := cached()
	for _, q := range reads {
		if after[q] != before[q] {
			t.Errorf("statement %q was prepared again", q)
		}
	}

	// Bounded: past maxCachedStmts distinct texts, queries run unprepared.
	for i := 0; len(cached()) < maxCachedStmts; i++ {
		if s.db.stmts.get(ctx, s.db.sqlDB, fmt.Sprintf("SELECT %d", i), false) == nil {
			t.Fatalf("statement %d not cached below the bound", i)
		}
	}
	if st := s.db.stmts.get(ctx, s.db.sqlDB, "SELECT 'one more'", false); st != nil || len(cached()) != maxCachedStmts {
		t.Errorf("past the bound: got a statement %v, %d cached; want none, %d", st, len(cached()), maxCachedStmts)
	}
	if _, err := s.GetClient(ctx, "a"); err != nil {
		t.Errorf("GetClient with a full statement cache: %v", err)
	}
}

// TestCloseWaitsForBackgroundPrepare: a statement first run in a
// transaction is prepared in the background, on another connection; Close
// waits for that, so that nothing touches the database once it returns.
func TestCloseWaitsForBackgroundPrepare(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.db.sqlDB.SetMaxOpenConns(1) // the prepare waits for the transaction's connection
	closed := make(chan error, 1)
	err = s.db.Read(t.Context(), func(tx sqlstore.Tx) error {
		var n int
		if err := tx.QueryRow(t.Context(), "SELECT count(*) FROM clients WHERE name <> $1", "x").Scan(&n); err != nil {
			return err
		}
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			t.Errorf("Close returned (%v) while a statement was still being prepared", err)
		case <-time.After(100 * time.Millisecond):
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return once the transaction ended")
	}
}
