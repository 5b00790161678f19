// Package apptest runs Gatehouse's server inside a test process, assembled
// by [app.Run] from a validated config exactly as `gatehouse serve` does,
// on a kernel-chosen port and a SQLite store in a temporary directory: for
// tests of packages that talk to the server over HTTP (the admin client,
// the CLI's remote mode). It is imported only by tests.
package apptest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// Server is a running server.
type Server struct {
	// URL is the server's address and issuer, e.g. http://127.0.0.1:41234.
	URL string
	// DataDir is its data directory: the CLI's local mode with
	// GATEHOUSE_DATA_DIR set to it works on the same store.
	DataDir string
	// Config is the configuration it runs with.
	Config config.Config
	// Logs is what it wrote to standard error (its log and banner).
	Logs *testutil.SyncBuffer
}

var listening = regexp.MustCompile(`msg="gatehouse listening" addr=(http://127\.0\.0\.1:\d+)`)

// Start runs the server on dataDir (a new temporary directory if "") until
// the test ends. env adds environment variables as config.Load reads them
// (e.g. GATEHOUSE_LOG_LEVEL).
func Start(t testing.TB, dataDir string, env map[string]string) *Server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	cfg, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.Addr = dataDir, "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &Server{DataDir: dataDir, Config: cfg, Logs: &testutil.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, s.Logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v\n%s", err, s.Logs)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("server did not stop within 30s\n%s", s.Logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(s.Logs.String()); m != nil {
			s.URL = m[1]
			// The listener was bound before the line was logged.
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, s.Logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start within 30s\n%s", s.Logs)
		}
	}
}

// CreateClient registers a client allowed scopes directly in the server's
// store (as `gatehouse clients create` does) and returns its ID and secret.
func (s *Server) CreateClient(t testing.TB, name string, scopes ...string) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	catalog, err := app.LoadCatalog(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := backend.Open(ctx, s.Config.Database, s.Config.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, secret, err := app.ClientService(st, catalog, s.Config).Create(ctx, "test", clients.Spec{Name: name, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, secret
}
