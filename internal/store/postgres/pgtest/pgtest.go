// Package pgtest gives tests their own PostgreSQL schema, so that test runs
// sharing one database never see each other's data.
//
// The database is named by the environment variable
// GATEHOUSE_TEST_DATABASE_URL. Without it PostgreSQL tests are skipped,
// except in CI (CI=true), where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable that holds the test database's URL.
const EnvVar = "GATEHOUSE_TEST_DATABASE_URL"

// DSN creates a new schema with a random name (gh_test_<hex>) in the test
// database and returns a connection string whose search_path is that
// schema. The schema and everything in it are dropped when the test ends,
// after cleanups registered later (such as closing a store) have run.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(EnvVar + " must be set in CI")
		}
		t.Skip(EnvVar + " is not set; skipping PostgreSQL tests")
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: random schema name: %v", err)
	}
	schema := "gh_test_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()

	exec(t, base, "CREATE SCHEMA "+ident)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+ident+" CASCADE") })

	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvVar, err)
	}
	return dsn
}

// withSearchPath adds search_path to a URL or key=value connection string.
// pgx sends parameters it does not know itself to the server as run-time
// parameters.
func withSearchPath(base, schema string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return base + " search_path=" + schema, nil
}

// exec runs one statement on its own connection. It does not use the test's
// context, which is already cancelled when cleanups run.
func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}
