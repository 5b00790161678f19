package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// TestPostgresTwoNodes runs two servers on one PostgreSQL schema: a client
// created through the CLI works on both, they publish the same signing key,
// a rotated secret works on both at once, and a change made through the
// CLI reaches both at once (LISTEN/NOTIFY; the test allows 2s, and logs the
// time it took).
func TestPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	in := newInstance(t, "GATEHOUSE_DATABASE_URL="+dsn, "GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl")
	a := in.serve()
	b := in.serve()
	nodes := []server{a, b}
	c := in.CreateClient("--name", "pg client", "--scopes", "search")
	for _, s := range nodes {
		code, m := s.token(t, c.ClientID, c.ClientSecret, "search")
		if code != 200 {
			t.Fatalf("%s: got %d %v", s.URL, code, m)
		}
	}

	// A new secret works on every node at once, though both have the
	// client cached: a secret the cache does not accept is checked
	// against the database.
	out := in.MustCLI("clients", "rotate-secret", c.ClientID, "--grace", "0", "--output", "json")
	var rot struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &rot); err != nil || rot.ClientSecret == "" {
		t.Fatalf("rotate-secret output %q: %v", out, err)
	}
	for _, s := range nodes {
		if code, m := s.token(t, c.ClientID, rot.ClientSecret, ""); code != 200 {
			t.Errorf("%s: rotated secret right after rotate-secret: got %d %v, want 200", s.URL, code, m)
		}
	}
	refusedOnEveryNode(t, nodes, "old secret after rotate-secret --grace 0", c.ClientID, c.ClientSecret)

	in.MustCLI("clients", "update", c.ClientID, "--disable")
	refusedOnEveryNode(t, nodes, "disabled client", c.ClientID, rot.ClientSecret)

	ka, kb := harness.Fetch(t, a.URL+"/.well-known/jwks.json"), harness.Fetch(t, b.URL+"/.well-known/jwks.json")
	if ka != kb {
		t.Errorf("nodes publish different JWKS:\n%s\n%s", ka, kb)
	}
}

// TestPostgresConnectionsKilled: the database terminates every connection
// of a running server (pg_terminate_backend, as a failover or an operator
// would); the next requests that need the database succeed, each retried
// once on a fresh connection.
func TestPostgresConnectionsKilled(t *testing.T) {
	base := pgtest.DSN(t)
	name := "gh_e2e_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	in := newInstance(t, "GATEHOUSE_DATABASE_URL="+base+"&application_name="+name,
		"GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl")
	srv := in.serve()
	c := in.CreateClient("--name", "pg client", "--scopes", "search")
	code, m := srv.token(t, c.ClientID, c.ClientSecret, "")
	if code != 200 {
		t.Fatalf("token: got %d %v", code, m)
	}
	tok, _ := m["access_token"].(string)
	post := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		return harness.DoJSON(t, req)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// kill terminates the server's connections and waits until they are
	// gone. The server's LISTEN connection comes back at once (with its
	// application name), so the wait is for the killed backends only.
	kill := func() {
		t.Helper()
		var pids []int32
		rows, err := admin.Query(ctx, `SELECT pid FROM (SELECT pid FROM pg_stat_activity WHERE application_name = $1 OFFSET 0) AS s
			WHERE pg_terminate_backend(pid)`, name)
		if err == nil {
			pids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			t.Fatal("the server has no connection to kill")
		}
		harness.Within(t, 5*time.Second, "terminated backends gone", func() bool {
			var n int
			err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&n)
			return err == nil && n == 0
		})
	}
	for i := range 3 {
		if code, m := post("/oauth/introspect"); code != 200 || m["active"] != true { // from memory; the feed below uses the pool
			t.Fatalf("introspect before kill %d: got %d %v", i, code, m)
		}
		kill()
		if code, m := post("/oauth/introspect"); code != 200 || m["active"] != true {
			t.Errorf("introspect after kill %d: got %d %v, want 200 active", i, code, m)
		}
		if code, m := harness.DoJSON(t, mustGet(srv.URL+"/oauth/revocations")); code != 200 {
			t.Errorf("revocation feed after kill %d: got %d %v, want 200", i, code, m)
		}
	}
	kill()
	if code, m := post("/oauth/revoke"); code != 200 {
		t.Errorf("revoke after kill: got %d %v, want 200", code, m)
	}
	if code, m := post("/oauth/introspect"); code != 200 || m["active"] != false {
		t.Errorf("introspect after the revocation: got %d %v, want inactive", code, m)
	}
}

func mustGet(u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// refusedOnEveryNode waits, for at most 2s, until every node refuses the
// credentials with 401, and logs how long each took from the call.
func refusedOnEveryNode(t *testing.T, nodes []server, what, id, secret string) {
	t.Helper()
	const deadline = 2 * time.Second
	start := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, len(nodes))
	for i, s := range nodes {
		wg.Go(func() {
			for {
				code, _ := s.token(t, id, secret, "")
				if code == 401 {
					took[i] = time.Since(start)
					return
				}
				if time.Since(start) > deadline {
					t.Errorf("%s on %s: still %d after %s, want 401", what, s.URL, code, deadline)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	t.Logf("%s: refused after %v", what, took)
}
