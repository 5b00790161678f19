package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

// cliRun runs the CLI with the environment vars.
func cliRun(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// server is `gatehouse serve` running in the test process.
type server struct {
	URL     string
	DataDir string
	Logs    *testutil.SyncBuffer // its standard error: log and banner
}

var listening = regexp.MustCompile(`msg="gatehouse listening" addr=(http://127\.0\.0\.1:\d+)`)

// startServe runs `gatehouse serve` on a kernel-chosen port and a new data
// directory, with the environment variables env, until the test ends.
func startServe(t *testing.T, env map[string]string) *server {
	t.Helper()
	s := &server{DataDir: t.TempDir(), Logs: &testutil.SyncBuffer{}}
	vars := map[string]string{"GATEHOUSE_DATA_DIR": s.DataDir}
	maps.Copy(vars, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return vars[k] }, strings.NewReader(""), io.Discard, s.Logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve: exit %d\n%s", code, s.Logs)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := listening.FindStringSubmatch(s.Logs.String()); m != nil {
			s.URL = m[1] // the listener was bound before the line was logged
			return s
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited: %d\n%s", code, s.Logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 30s\n%s", s.Logs)
		}
	}
}

// remoteSetup starts a server with the environment variables env and
// returns the environment of local mode (its data directory and env) and
// of remote mode (its URL and an admin client).
func remoteSetup(t *testing.T, env map[string]string) (srv *server, local, remote map[string]string) {
	t.Helper()
	srv = startServe(t, env)
	local = map[string]string{"GATEHOUSE_DATA_DIR": srv.DataDir, "USER": "tester"}
	maps.Copy(local, env)
	code, out, errOut := cliRun(t, local, "", "clients", "create", "--name", "admin CLI", "--id", "admin-cli", "--scopes", "gatehouse:admin", "-o", "json")
	var c admin.Client
	if code != 0 || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("create the admin client: exit %d, %q, %q", code, out, errOut)
	}
	remote = map[string]string{
		"GATEHOUSE_SERVER": srv.URL, "GATEHOUSE_CLIENT_ID": c.ClientID, "GATEHOUSE_CLIENT_SECRET": c.ClientSecret,
		"USER": "tester",
		// GATEHOUSE_SERVER takes over from the data directory of the
		// environment; an explicit --data-dir would not.
		"GATEHOUSE_DATA_DIR": t.TempDir(),
	}
	return srv, local, remote
}

func mustRun(t *testing.T, vars map[string]string, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := cliRun(t, vars, stdin, args...)
	if code != 0 {
		t.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestRemoteOutputIsLocalOutput: the data commands print the same bytes
// through the admin API as on the store, for data made both ways, on
// SQLite and on PostgreSQL (whose collation could order IDs differently).
func TestRemoteOutputIsLocalOutput(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRemoteOutputIsLocalOutput(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		testRemoteOutputIsLocalOutput(t, map[string]string{"GATEHOUSE_DATABASE_URL": pgtest.DSN(t)})
	})
}

func testRemoteOutputIsLocalOutput(t *testing.T, env map[string]string) {
	_, local, remote := remoteSetup(t, env)

	mustRun(t, local, "", "clients", "create", "--name", "Billing sync", "--id", "billing-sync", "--scopes", "api:read-only search", "--token-ttl", "12h")
	mustRun(t, remote, "", "clients", "create", "--name", "Reports web", "--id", "reports-web", "--description", "the reports app",
		"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "https://reports.example/cb",
		"--website", "https://reports.example", "--scopes", "profile search", "--accounts", "acme,globex", "--require-pkce=false")
	mustRun(t, remote, "", "clients", "create", "--name", "Mobile", "--id", "mobile", "--token-endpoint-auth-method", "none",
		"--grant-types", "authorization_code", "--redirect-uris", "http://127.0.0.1/cb")
	mustRun(t, remote, "", "clients", "create", "--name", "No scopes", "--id", "no-scopes", "--scopes", "")
	mustRun(t, remote, "", "clients", "update", "billing-sync", "--name", "Billing sync v2", "--audience", "https://api.example")
	mustRun(t, remote, "", "clients", "rotate-secret", "billing-sync", "--grace", "1h")
	mustRun(t, local, "", "clients", "rotate-secret", "reports-web", "--grace", "0")
	mustRun(t, remote, "", "clients", "update", "mobile", "--disable")
	mustRun(t, remote, "", "keys", "rotate")
	// IDs that sort differently by bytes and by a language's collation.
	for _, id := range []string{"Zeta-app", "alpha_app", "alpha-app", "alpha.app", "Alpha"} {
		mustRun(t, remote, "", "clients", "create", "--name", id, "--id", id)
	}

	for _, args := range [][]string{
		{"clients", "list", "-o", "json"},
		{"clients", "list"},
		{"clients", "show", "billing-sync", "-o", "json"},
		{"clients", "show", "billing-sync"},
		{"clients", "show", "reports-web", "-o", "json"},
		{"clients", "show", "reports-web"},
		{"clients", "show", "mobile", "--output", "json"},
		{"keys", "list", "-o", "json"},
		{"keys", "list"},
		{"audit", "-o", "json"},
		{"audit"},
		{"audit", "--target", "billing-sync", "-o", "json"},
		{"audit", "--action", "client.create", "--limit", "2", "-o", "json"},
		{"audit", "--limit", "0", "-o", "json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			l, r := mustRun(t, local, "", args...), mustRun(t, remote, "", args...)
			if l != r {
				// The one thing that changes between the two runs is the
				// last use of the admin client's secret, which the server
				// records once a minute: compare once more.
				l, r = mustRun(t, local, "", args...), mustRun(t, remote, "", args...)
			}
			if l != r {
				t.Errorf("local and remote output differ:\n--- local\n%s\n--- remote\n%s", l, r)
			}
			if len(l) < 50 {
				t.Errorf("output %q: want the data", l)
			}
		})
	}

	// The data is what was asked for, in both modes (the JSON of the admin
	// package's types).
	var list []admin.Client
	if err := json.Unmarshal([]byte(mustRun(t, remote, "", "clients", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ClientID)
	}
	if want := "Alpha Zeta-app admin-cli alpha-app alpha.app alpha_app billing-sync mobile no-scopes reports-web"; strings.Join(ids, " ") != want {
		t.Errorf("clients list: %q, want %s", ids, want)
	}
	var audit []admin.AuditEvent
	if err := json.Unmarshal([]byte(mustRun(t, local, "", "audit", "--target", "billing-sync", "-o", "json")), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 3 || audit[0].Action != "client.rotate_secret" || !strings.HasPrefix(audit[0].Actor, "api:admin-cli") ||
		audit[2].Action != "client.create" || !strings.HasPrefix(audit[2].Actor, "cli:tester@") {
		t.Errorf("audit of billing-sync: %+v; want create (cli), update and rotation (api) newest first", audit)
	}
}

// TestRemoteClients: the clients commands change the server's data.
func TestRemoteClients(t *testing.T) {
	srv, local, remote := remoteSetup(t, nil)
	out := mustRun(t, remote, "", "clients", "create", "--name", "CI", "--id", "ci-bot", "--scopes", "api", "-o", "json")
	var c admin.Client
	if err := json.Unmarshal([]byte(out), &c); err != nil || !strings.HasPrefix(c.ClientSecret, "ghs_") || c.ClientID != "ci-bot" {
		t.Fatalf("clients create --server -o json: %q, %v; want a client with its secret", out, err)
	}
	if out := mustRun(t, remote, "", "clients", "create", "--name", "Table"); !strings.Contains(out, "client_secret:  ghs_") || !strings.Contains(out, "Store the client secret now") {
		t.Errorf("clients create --server: %q, want the secret and the warning", out)
	}
	_, _, errOut := cliRun(t, remote, "", "clients", "create", "--name", "None", "--scopes", "")
	if !strings.Contains(errOut, `gatehouse: warning: client "`) || !strings.Contains(errOut, "allowed no scopes") {
		t.Errorf("a client with no scopes: stderr %q, want the warning", errOut)
	}
	code, _, errOut := cliRun(t, remote, "", "clients", "create", "--name", "x", "--grant-types", "authorization_code", "--website", "ftp://x")
	if code != 1 || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "gatehouse: 422 Unprocessable Entity: the authorization_code grant needs at least one redirect URI; website \"ftp://x\" must be an http or https URL") {
		t.Errorf("two problems: exit %d, stderr %q; want both on one line", code, errOut)
	}

	if out := mustRun(t, remote, "", "clients", "update", "ci-bot", "--disable"); !strings.Contains(out, "disabled") {
		t.Errorf("clients update --disable: %q", out)
	}
	if out := mustRun(t, local, "", "clients", "show", "ci-bot", "-o", "json"); !strings.Contains(out, `"disabled": true`) {
		t.Errorf("the update did not reach the store: %s", out)
	}
	out = mustRun(t, remote, "", "clients", "rotate-secret", "ci-bot", "--grace", "0", "-o", "json")
	var rot admin.Rotation
	if err := json.Unmarshal([]byte(out), &rot); err != nil || rot.GraceSeconds != 0 || len(rot.Secrets) != 1 || rot.ClientSecret == c.ClientSecret {
		t.Errorf("rotate-secret --grace 0: %q, %v", out, err)
	}
	if out := mustRun(t, remote, "", "clients", "revoke-secret", "ci-bot", rot.SecretID); out != "revoked secret "+rot.SecretID+" of client ci-bot\n" {
		t.Errorf("revoke-secret: %q", out)
	}
	if out := mustRun(t, remote, "", "clients", "delete", "ci-bot"); out != "deleted client ci-bot\n" {
		t.Errorf("delete: %q", out)
	}
	code, _, errOut = cliRun(t, remote, "", "clients", "show", "ci-bot")
	if code != 1 || errOut != "gatehouse: 404 Not Found: no such client\n" {
		t.Errorf("show a deleted client: exit %d, %q", code, errOut)
	}
	if out := mustRun(t, remote, "", "keys", "rotate", "--now"); !strings.Contains(out, "within the JWKS max-age (5m) at the latest") {
		t.Errorf("keys rotate --now: %q, want the server's JWKS max-age", out)
	}
	if !strings.Contains(srv.Logs.String(), `msg="admin API" method=POST path=/admin/v1/keys/rotate`) {
		t.Errorf("the server logged no key rotation through the API")
	}
}

// TestRemoteRefusals: what remote mode refuses, in one line each, with the
// fix; and the secret is never printed.
func TestRemoteRefusals(t *testing.T) {
	srv, local, remote := remoteSetup(t, nil)
	without := func(drop ...string) map[string]string {
		m := map[string]string{}
		for k, v := range remote {
			m[k] = v
		}
		for _, k := range drop {
			delete(m, k)
		}
		return m
	}
	wrong := without()
	wrong["GATEHOUSE_CLIENT_SECRET"] = "ghs_not-the-right-secret-at-all"
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"no client ID", without("GATEHOUSE_CLIENT_ID"), "", []string{"clients", "list"}, 1,
			"gatehouse: GATEHOUSE_CLIENT_ID is not set: set it to the ID and secret of a client allowed the scope gatehouse:admin (create one where the server's store is: gatehouse clients create --name admin-cli --scopes gatehouse:admin)\n"},
		{"no secret", without("GATEHOUSE_CLIENT_SECRET"), "", []string{"keys", "list"}, 1, "gatehouse: GATEHOUSE_CLIENT_SECRET is not set: set it to the ID"},
		{"no credentials", without("GATEHOUSE_CLIENT_ID", "GATEHOUSE_CLIENT_SECRET"), "", []string{"audit"}, 1,
			"gatehouse: remote mode authenticates to the admin API: set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET to the ID"},
		{"--server without credentials", local, "", []string{"users", "list", "--server", srv.URL}, 1, "set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET"},
		{"http to another host", remote, "", []string{"clients", "list", "--server", "http://auth.example.com"}, 1,
			`gatehouse: --server "http://auth.example.com": use https; http is allowed only for a server on this host`},
		{"not a URL", remote, "", []string{"clients", "list", "--server", "auth.example.com"}, 1, "is not an http(s) URL"},
		{"credentials in the URL", remote, "", []string{"clients", "list", "--server", "https://admin:hunter2@auth.example.com"}, 1,
			`"https://admin:xxxxx@auth.example.com" holds credentials`},
		{"--server and --data-dir", remote, "", []string{"clients", "list", "--server", srv.URL, "--data-dir", srv.DataDir}, 2,
			"gatehouse: --server and --data-dir, --database or --config exclude each other"},
		{"--secret-stdin", remote, "a-supplied-secret-of-more-than-32-characters", []string{"clients", "create", "--name", "x", "--secret-stdin"}, 2,
			"gatehouse: --secret-stdin works only without --server: the admin API generates every secret\n"},
		{"rotate --secret-stdin", remote, "a-supplied-secret-of-more-than-32-characters", []string{"clients", "rotate-secret", "admin-cli", "--secret-stdin"}, 2,
			"gatehouse: --secret-stdin works only without --server"},
		{"--catalog", remote, "", []string{"clients", "list", "--catalog", "scopes.yaml"}, 2, "gatehouse: --catalog works only without --server"},
		{"wrong secret", wrong, "", []string{"clients", "list"}, 1, `gatehouse: admin: get an access token: oauth2: "invalid_client" "client authentication failed" (check GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET: a client allowed gatehouse:admin, gatehouse:clients or gatehouse:admin:read)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cliRun(t, tc.vars, tc.stdin, tc.args...)
			if code != tc.code || out != "" || !strings.Contains(errOut, tc.stderr) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line with %q", code, out, errOut, tc.code, tc.stderr)
			}
			for _, secret := range []string{remote["GATEHOUSE_CLIENT_SECRET"], wrong["GATEHOUSE_CLIENT_SECRET"], "hunter2"} {
				if strings.Contains(errOut, secret) {
					t.Errorf("stderr shows a secret: %q", errOut)
				}
			}
		})
	}
	// An explicit --data-dir beats GATEHOUSE_SERVER: local mode, which
	// needs no credentials.
	if out := mustRun(t, without("GATEHOUSE_CLIENT_ID"), "", "clients", "list", "--data-dir", srv.DataDir); !strings.Contains(out, "admin-cli") {
		t.Errorf("--data-dir with GATEHOUSE_SERVER set: %q, want the local list", out)
	}
}

// TestRemoteUsers runs the users commands against a stand-in of the admin
// API's users routes (the contract of issue 10), with its token endpoint.
func TestRemoteUsers(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	users := []admin.User{
		{ID: "u1", Username: "Alice", DisplayName: "Alice A", Role: "admin"},
		{ID: "u2", Username: "alicia", DisplayName: "Alicia", Role: "member"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`)
			return
		}
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && r.URL.Path == "/admin/v1/users":
			json.NewEncoder(w).Encode(admin.Page[admin.User]{Items: users})
		case r.Method == "POST":
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"u3","username":"bob","display_name":"bob","role":"member"}`)
		case r.Method == "PATCH":
			json.NewEncoder(w).Encode(users[0])
		case r.Method == "DELETE":
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	vars := map[string]string{"GATEHOUSE_SERVER": srv.URL, "GATEHOUSE_CLIENT_ID": "cli", "GATEHOUSE_CLIENT_SECRET": "s"}
	const pw = "a good long password"
	for _, tc := range []struct {
		stdin  string
		args   []string
		stdout string
		calls  []string
	}{
		{pw + "\n", []string{"users", "create", "--username", "bob"}, "Created member bob (bob), ID u3\n",
			[]string{`POST /admin/v1/users {"username":"bob","role":"member","password":"a good long password"}`}},
		{"", []string{"users", "list", "-o", "json"}, `"username": "alicia"`, []string{"GET /admin/v1/users?limit=200 "}},
		{"", []string{"users", "show", "alice"}, "username:      Alice\n", []string{"GET /admin/v1/users?limit=200&q=alice "}},
		{"", []string{"users", "disable", "ALICE"}, "Disabled Alice", []string{"GET /admin/v1/users?limit=200&q=ALICE ", `PATCH /admin/v1/users/u1 {"disabled":true}`}},
		{"", []string{"users", "enable", "alicia"}, "Enabled alicia", []string{"GET /admin/v1/users?limit=200&q=alicia ", `PATCH /admin/v1/users/u2 {"disabled":false}`}},
		{pw + "\n", []string{"users", "set-password", "alice"}, "Password of Alice set",
			[]string{"GET /admin/v1/users?limit=200&q=alice ", `PATCH /admin/v1/users/u1 {"password":"a good long password"}`}},
		{"", []string{"users", "delete", "alicia"}, "Deleted member alicia (ID u2)", []string{"GET /admin/v1/users?limit=200&q=alicia ", "DELETE /admin/v1/users/u2 "}},
	} {
		mu.Lock()
		calls = nil
		mu.Unlock()
		out := mustRun(t, vars, tc.stdin, tc.args...)
		if !strings.Contains(out, tc.stdout) {
			t.Errorf("%s: stdout %q, want %q", strings.Join(tc.args, " "), out, tc.stdout)
		}
		mu.Lock()
		if strings.Join(calls, "\n") != strings.Join(tc.calls, "\n") {
			t.Errorf("%s: requests\n%s\nwant\n%s", strings.Join(tc.args, " "), strings.Join(calls, "\n"), strings.Join(tc.calls, "\n"))
		}
		mu.Unlock()
	}
	code, _, errOut := cliRun(t, vars, "", "users", "show", "ali")
	if code != 1 || errOut != "gatehouse: user \"ali\": not found\n" {
		t.Errorf("users show ali (no exact match): exit %d, %q", code, errOut)
	}
}

// TestRemoteScopes: remote mode works with a client allowed less than
// gatehouse:admin: a read-only client reads, and its writes are the admin
// API's 403 naming the scope; a gatehouse:clients client manages clients.
func TestRemoteScopes(t *testing.T) {
	_, local, remote := remoteSetup(t, nil)
	as := func(scopes string) map[string]string {
		t.Helper()
		var c admin.Client
		out := mustRun(t, local, "", "clients", "create", "--name", scopes, "--scopes", scopes, "-o", "json")
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatal(err)
		}
		env := maps.Clone(remote)
		env["GATEHOUSE_CLIENT_ID"], env["GATEHOUSE_CLIENT_SECRET"] = c.ClientID, c.ClientSecret
		return env
	}
	reader := as("gatehouse:admin:read")
	if out := mustRun(t, reader, "", "keys", "list", "-o", "json"); !strings.Contains(out, `"state"`) {
		t.Errorf("keys list as a read-only client: %q", out)
	}
	code, _, errOut := cliRun(t, reader, "", "clients", "create", "--name", "x")
	if code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("clients create as a read-only client: exit %d, stderr %q; want the API's 403", code, errOut)
	}
	manager := as("gatehouse:clients")
	mustRun(t, manager, "", "clients", "create", "--name", "made by a manager", "--id", "managed")
	if out := mustRun(t, manager, "", "clients", "show", "managed", "-o", "json"); !strings.Contains(out, `"managed"`) {
		t.Errorf("clients show as a clients manager: %q", out)
	}
	code, _, errOut = cliRun(t, manager, "", "keys", "list")
	if code == 0 || !strings.Contains(errOut, "403") {
		t.Errorf("keys list as a clients manager: exit %d, stderr %q; want the API's 403", code, errOut)
	}
	nobody := as("api")
	code, _, errOut = cliRun(t, nobody, "", "clients", "list")
	if code == 0 || !strings.Contains(errOut, "invalid_scope") || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Errorf("clients list as a client with no system scope: exit %d, stderr %q; want one line with invalid_scope", code, errOut)
	}
}
