// Package backend chooses and opens the storage backend named by a
// --database value (GATEHOUSE_DATABASE_URL):
//
//	""                          SQLite at DATA_DIR/gatehouse.db
//	postgres://… postgresql://… PostgreSQL
//	sqlite:PATH sqlite://PATH   SQLite at PATH
//	file:PATH                   SQLite at PATH
package backend

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
)

// DefaultFile is the SQLite database's file name in the data directory.
const DefaultFile = "gatehouse.db"

// Open opens the store named by database (see the package documentation),
// creating and migrating it as needed.
func Open(ctx context.Context, database, dataDir string) (store.Store, error) {
	t, err := parse(database, dataDir)
	if err != nil {
		return nil, err
	}
	if t.postgres {
		return postgres.Open(ctx, t.dsn)
	}
	return sqlite.Open(ctx, t.path)
}

// Migrate applies the schema migrations to the database named by database
// and returns its schema version.
func Migrate(ctx context.Context, database, dataDir string) (version int64, err error) {
	t, err := parse(database, dataDir)
	if err != nil {
		return 0, err
	}
	if t.postgres {
		return postgres.Migrate(ctx, t.dsn)
	}
	return sqlite.Migrate(ctx, t.path)
}

// Describe returns a short description of the database for logs, such as
// "sqlite ./gatehouse-data/gatehouse.db" or "postgres 127.0.0.1:5432/test".
// It never contains a password or other connection parameters.
func Describe(database, dataDir string) string {
	t, err := parse(database, dataDir)
	if err != nil {
		return "unsupported database"
	}
	if !t.postgres {
		p := t.path
		sep := string(filepath.Separator)
		if !filepath.IsAbs(p) && !strings.HasPrefix(p, "."+sep) && !strings.HasPrefix(p, ".."+sep) {
			p = "." + sep + p
		}
		return "sqlite " + p
	}
	u, err := url.Parse(t.dsn)
	if err != nil {
		return "postgres (unparsable URL)"
	}
	host := u.Host // without the user information
	if host == "" {
		host = u.Query().Get("host")
	}
	if host == "" {
		host = "(default host)"
	}
	return "postgres " + host + "/" + strings.TrimPrefix(u.Path, "/")
}

type target struct {
	postgres bool
	dsn      string // postgres
	path     string // sqlite
}

func parse(database, dataDir string) (target, error) {
	if database == "" {
		return target{path: filepath.Join(dataDir, DefaultFile)}, nil
	}
	lower := strings.ToLower(database)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return target{postgres: true, dsn: database}, nil
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			path := database[len(prefix):]
			if path == "" {
				return target{}, fmt.Errorf("database %q names no file: want %sPATH", database, database)
			}
			return target{path: path}, nil
		}
	}
	return target{}, fmt.Errorf("database %s is not supported: use a postgres:// or postgresql:// URL, "+
		"sqlite:PATH, sqlite://PATH or file:PATH, or nothing for SQLite in the data directory", redact(database))
}

// redact describes an unsupported database value without repeating
// anything that could be a password.
func redact(database string) string {
	if scheme, _, ok := strings.Cut(database, "://"); ok && isScheme(scheme) {
		return fmt.Sprintf("URL with scheme %q", scheme)
	}
	if !strings.ContainsAny(database, ":@= \t\n") { // looks like a path
		return fmt.Sprintf("%q (for a SQLite file, write sqlite:%s)", database, database)
	}
	return "value"
}

// isScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
