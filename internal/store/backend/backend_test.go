package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		database, dataDir string
		want              target
		describe          string
	}{
		{"", "./gatehouse-data", target{path: "gatehouse-data/gatehouse.db"}, "sqlite ./gatehouse-data/gatehouse.db"},
		{"", "/var/lib/gatehouse", target{path: "/var/lib/gatehouse/gatehouse.db"}, "sqlite /var/lib/gatehouse/gatehouse.db"},
		{"", "", target{path: "gatehouse.db"}, "sqlite ./gatehouse.db"},
		{"sqlite:/tmp/gh.db", "ignored", target{path: "/tmp/gh.db"}, "sqlite /tmp/gh.db"},
		{"sqlite:data/gh.db", "", target{path: "data/gh.db"}, "sqlite ./data/gh.db"},
		{"sqlite:///tmp/gh.db", "", target{path: "/tmp/gh.db"}, "sqlite /tmp/gh.db"},
		{"sqlite://../gh.db", "", target{path: "../gh.db"}, "sqlite ../gh.db"},
		{"SQLite:/tmp/gh.db", "", target{path: "/tmp/gh.db"}, "sqlite /tmp/gh.db"},
		{"file:/tmp/gh.db", "", target{path: "/tmp/gh.db"}, "sqlite /tmp/gh.db"},
		{"file:///tmp/gh.db", "", target{path: "/tmp/gh.db"}, "sqlite /tmp/gh.db"},
		{"file:gh.db", "", target{path: "gh.db"}, "sqlite ./gh.db"},
		{
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "ignored",
			target{postgres: true, dsn: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"},
			"postgres 127.0.0.1:5432/test",
		},
		{
			"postgresql://gh:s3cret@db.internal/gatehouse?password=other", "",
			target{postgres: true, dsn: "postgresql://gh:s3cret@db.internal/gatehouse?password=other"},
			"postgres db.internal/gatehouse",
		},
		{
			"postgres:///gatehouse?host=/var/run/postgresql", "",
			target{postgres: true, dsn: "postgres:///gatehouse?host=/var/run/postgresql"},
			"postgres /var/run/postgresql/gatehouse",
		},
	}
	for _, tt := range tests {
		t.Run(tt.database, func(t *testing.T) {
			got, err := parse(tt.database, tt.dataDir)
			if err != nil {
				t.Fatalf("parse(%q, %q): %v", tt.database, tt.dataDir, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(target{})); diff != "" {
				t.Errorf("parse(%q, %q) (-want +got):\n%s", tt.database, tt.dataDir, diff)
			}
			if got := Describe(tt.database, tt.dataDir); got != tt.describe {
				t.Errorf("Describe(%q, %q): got %q, want %q", tt.database, tt.dataDir, got, tt.describe)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		database string
		wantIn   []string // substrings of the error message
	}{
		{"mysql://root:hunter2@localhost/gh", []string{`scheme "mysql"`, "postgres://", "sqlite:PATH", "sqlite://PATH", "file:PATH"}},
		{"/tmp/gh.db", []string{`"/tmp/gh.db"`, "sqlite:/tmp/gh.db", "postgres://"}},
		{"user:hunter2@db/gatehouse", []string{"postgres://", "sqlite:PATH"}},
		{"host=db password=hunter2", []string{"postgres://", "file:PATH"}},
		{"sqlite:", []string{"sqlite:PATH"}},
		{"file://", []string{"file://PATH"}},
	}
	for _, tt := range tests {
		t.Run(tt.database, func(t *testing.T) {
			_, err := Open(t.Context(), tt.database, t.TempDir())
			if err == nil {
				t.Fatalf("Open(%q) succeeded, want an error", tt.database)
			}
			msg := err.Error()
			for _, s := range tt.wantIn {
				if !strings.Contains(msg, s) {
					t.Errorf("Open(%q) error %q: want it to contain %q", tt.database, msg, s)
				}
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("Open(%q) error %q reveals the password", tt.database, msg)
			}
			if got, want := Describe(tt.database, ""), "unsupported database"; got != want {
				t.Errorf("Describe(%q): got %q, want %q", tt.database, got, want)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		database, dataDir string
		file              string // the database file that must exist afterwards
	}{
		{"", filepath.Join(dir, "data"), filepath.Join(dir, "data", "gatehouse.db")},
		{"sqlite:" + filepath.Join(dir, "a.db"), "", filepath.Join(dir, "a.db")},
		{"sqlite://" + filepath.Join(dir, "b.db"), "", filepath.Join(dir, "b.db")},
		{"file:" + filepath.Join(dir, "c.db"), "", filepath.Join(dir, "c.db")},
	}
	for _, tt := range tests {
		t.Run(tt.database, func(t *testing.T) {
			testOpen(t, tt.database, tt.dataDir)
			if _, err := os.Stat(tt.file); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestOpenPostgres(t *testing.T) {
	testOpen(t, pgtest.DSN(t), "")
}

// testOpen opens the store, writes to it, and migrates it again.
func testOpen(t *testing.T, database, dataDir string) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, database, dataDir)
	if err != nil {
		t.Fatalf("Open(%q, %q): %v", database, dataDir, err)
	}
	defer s.Close()
	if err := s.CreateClient(ctx, store.Client{ID: "c"}, store.AuditEvent{Action: "client.create"}); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	v, err := Migrate(ctx, database, dataDir)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if v != 14 {
		t.Errorf("Migrate: got schema version %d, want 14", v)
	}
	if _, err := s.GetClient(ctx, "c"); err != nil {
		t.Errorf("GetClient after Migrate: %v", err)
	}
}
