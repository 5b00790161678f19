// Package e2e drives the real gatehouse binary: it builds it once, runs
// `serve` as a child process and uses the CLI in other processes, as an
// operator would.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, "../cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one data directory (or database) used by server and CLI.
type instance struct {
	t       *testing.T
	dataDir string
	env     []string
}

func newInstance(t *testing.T, extraEnv ...string) *instance {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(), "GATEHOUSE_DATA_DIR="+dir)
	env = append(env, extraEnv...)
	return &instance{t: t, dataDir: dir, env: env}
}

// cli runs a gatehouse command and returns stdout; it fails the test on a
// non-zero exit unless wantFail.
func (in *instance) cli(stdin string, args ...string) (string, string, int) {
	in.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = in.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (in *instance) mustCLI(args ...string) string {
	in.t.Helper()
	out, errOut, code := in.cli("", args...)
	if code != 0 {
		in.t.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

type createdClient struct {
	ClientID        string   `json:"client_id"`
	ClientSecret    string   `json:"client_secret"`
	Name            string   `json:"name"`
	Scopes          []string `json:"scopes"`
	TokenTTLSeconds int64    `json:"token_ttl_seconds"`
}

func (in *instance) createClient(args ...string) createdClient {
	in.t.Helper()
	out := in.mustCLI(append([]string{"clients", "create", "--output", "json"}, args...)...)
	var c createdClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		in.t.Fatalf("clients create output %q: %v", out, err)
	}
	return c
}

// server is a running `gatehouse serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var listenRE = regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)

func (in *instance) serve(args ...string) *server {
	in.t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = in.env
	s := &server{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	found := s.watch(in.t, listenRE)
	select {
	case addr := <-found:
		s.url = "http://" + addr
	case err := <-s.done:
		in.t.Fatalf("serve exited early: %v\n%s", err, s.logs)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		in.t.Fatalf("serve did not start\n%s", s.logs)
	}
	return s
}

func (s *server) token(t *testing.T, id, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest("POST", s.url+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWalkthrough(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.createClient("--name", "Billing sync", "--scopes", "api:read-only search", "--token-ttl", "12h")
	if !strings.HasPrefix(c.ClientSecret, "ghs_") || c.TokenTTLSeconds != 43200 {
		t.Fatalf("created client: got %+v", c)
	}

	// Any standard client library works unchanged.
	cfg := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: srv.url + "/oauth/token", Scopes: []string{"search"}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["sub"] != c.ClientID || claims["scope"] != "search" || claims["iss"] != srv.url {
		t.Errorf("claims: got %v", claims)
	}

	// Introspect with the client's own credentials, then revoke.
	introspect := func() map[string]any {
		req, _ := http.NewRequest("POST", srv.url+"/oauth/introspect", strings.NewReader("token="+tok.AccessToken))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		_, m := doJSON(t, req)
		return m
	}
	if m := introspect(); m["active"] != true || m["client_id"] != c.ClientID {
		t.Fatalf("introspect: got %v", m)
	}
	req, _ := http.NewRequest("POST", srv.url+"/oauth/revoke", strings.NewReader("token="+tok.AccessToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if code, _ := doJSON(t, req); code != 200 {
		t.Fatalf("revoke: got %d", code)
	}
	if m := introspect(); m["active"] != false {
		t.Fatalf("introspect after revoke: got %v", m)
	}

	// The secret is never shown again, and never logged.
	show := in.mustCLI("clients", "show", c.ClientID, "--output", "json")
	list := in.mustCLI("clients", "list")
	audit := in.mustCLI("audit")
	for name, text := range map[string]string{"show": show, "list": list, "audit": audit, "server log": srv.logs.String()} {
		if strings.Contains(text, c.ClientSecret) || strings.Contains(text, c.ClientSecret[4:20]) {
			t.Errorf("%s shows the secret", name)
		}
		if strings.Contains(text, tok.AccessToken[:40]) {
			t.Errorf("%s shows the token", name)
		}
	}
	if !strings.Contains(audit, "client.create") || !strings.Contains(audit, c.ClientID) {
		t.Errorf("audit lacks the creation:\n%s", audit)
	}
}

func TestChangesSeenWithinTwoSeconds(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.createClient("--name", "rotating", "--id", "rotating-app")
	if code, m := srv.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token: got %d %v", code, m)
	}

	out := in.mustCLI("clients", "rotate-secret", c.ClientID, "--grace", "0", "--output", "json")
	var rot struct {
		ClientSecret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &rot)
	within(t, 2*time.Second, "old secret refused after rotation with --grace 0", func() bool {
		code, _ := srv.token(t, c.ClientID, c.ClientSecret, "")
		return code == 401
	})
	if code, m := srv.token(t, c.ClientID, rot.ClientSecret, ""); code != 200 {
		t.Fatalf("new secret: got %d %v", code, m)
	}

	in.mustCLI("clients", "update", c.ClientID, "--disable")
	within(t, 2*time.Second, "disabled client refused", func() bool {
		code, _ := srv.token(t, c.ClientID, rot.ClientSecret, "")
		return code == 401
	})
	in.mustCLI("clients", "update", c.ClientID, "--enable", "--scopes", "search")
	within(t, 2*time.Second, "re-enabled client with new scope", func() bool {
		code, m := srv.token(t, c.ClientID, rot.ClientSecret, "search")
		return code == 200 && m["scope"] == "search"
	})
	in.mustCLI("clients", "delete", c.ClientID)
	within(t, 2*time.Second, "deleted client refused", func() bool {
		code, _ := srv.token(t, c.ClientID, rot.ClientSecret, "")
		return code == 401
	})

	// A key rotated by the CLI appears in the server's JWKS.
	jwksKids := func() int {
		resp, err := http.Get(srv.url + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []map[string]any }
		json.NewDecoder(resp.Body).Decode(&set)
		return len(set.Keys)
	}
	if n := jwksKids(); n != 1 {
		t.Fatalf("JWKS before rotation: got %d keys, want 1", n)
	}
	in.mustCLI("keys", "rotate")
	within(t, 2*time.Second, "rotated key published", func() bool { return jwksKids() == 2 })
	keys := in.mustCLI("keys", "list")
	if !strings.Contains(keys, "next") || !strings.Contains(keys, "active") {
		t.Errorf("keys list: got\n%s", keys)
	}
}

func TestClientSurvivesKill9(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.createClient("--name", "durable")
	if code, _ := srv.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token before kill: got %d", code)
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done
	srv2 := in.serve()
	if code, m := srv2.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token after kill -9 and restart: got %d %v", code, m)
	}
}

func TestGracefulShutdown(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, srv.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(srv.logs.String(), "stopped") {
		t.Errorf("no orderly stop in logs:\n%s", srv.logs)
	}
}

func TestCLIErrors(t *testing.T) {
	in := newInstance(t)
	in.createClient("--name", "taken", "--id", "taken-id")
	bad := filepath.Join(in.dataDir, "bad.yaml")
	os.WriteFile(bad, []byte("addr: 1\nbogus_key: 2\ntoken:\n  default_ttl: nope\n"), 0o600)
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"clients", "create", "--name", "x", "--id", "taken-id"}, "already taken"},
		{"", []string{"clients", "create", "--name", "x", "--id", "a b"}, "client ID"},
		{"", []string{"clients", "create", "--name", "x", "--scopes", "nope"}, "not in the scope catalog"},
		{"", []string{"clients", "create"}, "--name is required"},
		{"", []string{"clients", "create", "--name", "x", "--token-ttl", "90d"}, "exceeds the configured maximum"},
		{"short", []string{"clients", "create", "--name", "x", "--secret-stdin"}, "at least 32"},
		{"", []string{"clients", "show", "missing"}, "not found"},
		{"", []string{"clients", "rotate-secret", "taken-id", "--grace", "soon"}, "--grace"},
		{"", []string{"serve", "--config", bad}, "bogus_key"},
	} {
		_, stderr, code := in.cli(tc.stdin, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("gatehouse %s: got exit %d, stderr %q; want failure mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 && !strings.Contains(tc.want, "bogus") {
			t.Errorf("gatehouse %s: error is %d lines, want one: %q", strings.Join(tc.args, " "), n+1, stderr)
		}
	}

	// A supplied secret of 32+ characters is accepted and works.
	supplied := strings.Repeat("s3cr3t-", 6)
	out, stderr, code := in.cli(supplied+"\n", "clients", "create", "--name", "supplied", "--secret-stdin", "--output", "json")
	if code != 0 {
		t.Fatalf("create with supplied secret: %s", stderr)
	}
	var c createdClient
	json.Unmarshal([]byte(out), &c)
	if c.ClientSecret != supplied {
		t.Errorf("supplied secret: got %q, want it echoed once", c.ClientSecret)
	}
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
