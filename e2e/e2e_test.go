// Package e2e drives the real gatehouse binary: it builds it once, runs
// `serve` as a child process and uses the CLI in other processes, as an
// operator would.
package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"golang.org/x/oauth2/clientcredentials"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, &binary))
}

// instance is one data directory (or database) used by server and CLI.
type instance struct{ *harness.Instance }

func newInstance(t *testing.T, extraEnv ...string) instance {
	t.Helper()
	return instance{harness.NewInstance(t, binary, extraEnv...)}
}

type createdClient = harness.CreatedClient

// server is a running `gatehouse serve` or `gatehouse gateway`.
type server struct{ *harness.Server }

// serve starts `gatehouse serve` with args and waits for its address.
func (in instance) serve(args ...string) server {
	in.T.Helper()
	return server{in.Start(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), harness.ListenRE)}
}

func (s server) token(t *testing.T, id, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return harness.DoJSON(t, req)
}

func TestWalkthrough(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.CreateClient("--name", "Billing sync", "--scopes", "api:read-only search", "--token-ttl", "12h")
	if !strings.HasPrefix(c.ClientSecret, "ghs_") || c.TokenTTLSeconds != 43200 {
		t.Fatalf("created client: got %+v", c)
	}

	// Any standard client library works unchanged.
	cfg := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: srv.URL + "/oauth/token", Scopes: []string{"search"}}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["sub"] != c.ClientID || claims["scope"] != "search" || claims["iss"] != srv.URL {
		t.Errorf("claims: got %v", claims)
	}

	// Introspect with the client's own credentials, then revoke.
	introspect := func() map[string]any {
		req, _ := http.NewRequest("POST", srv.URL+"/oauth/introspect", strings.NewReader("token="+tok.AccessToken))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ClientID, c.ClientSecret)
		_, m := harness.DoJSON(t, req)
		return m
	}
	if m := introspect(); m["active"] != true || m["client_id"] != c.ClientID {
		t.Fatalf("introspect: got %v", m)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/revoke", strings.NewReader("token="+tok.AccessToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if code, _ := harness.DoJSON(t, req); code != 200 {
		t.Fatalf("revoke: got %d", code)
	}
	if m := introspect(); m["active"] != false {
		t.Fatalf("introspect after revoke: got %v", m)
	}

	// The secret is never shown again, and never logged.
	show := in.MustCLI("clients", "show", c.ClientID, "--output", "json")
	list := in.MustCLI("clients", "list")
	audit := in.MustCLI("audit")
	for name, text := range map[string]string{"show": show, "list": list, "audit": audit, "server log": srv.Logs.String()} {
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
	c := in.CreateClient("--name", "rotating", "--id", "rotating-app")
	if code, m := srv.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token: got %d %v", code, m)
	}

	out := in.MustCLI("clients", "rotate-secret", c.ClientID, "--grace", "0", "--output", "json")
	var rot struct {
		ClientSecret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &rot)
	harness.Within(t, 2*time.Second, "old secret refused after rotation with --grace 0", func() bool {
		code, _ := srv.token(t, c.ClientID, c.ClientSecret, "")
		return code == 401
	})
	if code, m := srv.token(t, c.ClientID, rot.ClientSecret, ""); code != 200 {
		t.Fatalf("new secret: got %d %v", code, m)
	}

	in.MustCLI("clients", "update", c.ClientID, "--disable")
	harness.Within(t, 2*time.Second, "disabled client refused", func() bool {
		code, _ := srv.token(t, c.ClientID, rot.ClientSecret, "")
		return code == 401
	})
	in.MustCLI("clients", "update", c.ClientID, "--enable", "--scopes", "search")
	harness.Within(t, 2*time.Second, "re-enabled client with new scope", func() bool {
		code, m := srv.token(t, c.ClientID, rot.ClientSecret, "search")
		return code == 200 && m["scope"] == "search"
	})
	in.MustCLI("clients", "delete", c.ClientID)
	harness.Within(t, 2*time.Second, "deleted client refused", func() bool {
		code, _ := srv.token(t, c.ClientID, rot.ClientSecret, "")
		return code == 401
	})

	// A key rotated by the CLI appears in the server's JWKS.
	jwksKids := func() int {
		resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
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
	in.MustCLI("keys", "rotate")
	harness.Within(t, 2*time.Second, "rotated key published", func() bool { return jwksKids() == 2 })
	keys := in.MustCLI("keys", "list")
	if !strings.Contains(keys, "next") || !strings.Contains(keys, "active") {
		t.Errorf("keys list: got\n%s", keys)
	}
}

func TestClientSurvivesKill9(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	c := in.CreateClient("--name", "durable")
	if code, _ := srv.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token before kill: got %d", code)
	}
	srv.Cmd.Process.Signal(syscall.SIGKILL)
	<-srv.Done
	srv2 := in.serve()
	if code, m := srv2.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token after kill -9 and restart: got %d %v", code, m)
	}
}

func TestGracefulShutdown(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	srv.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.Done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, srv.Logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.Contains(srv.Logs.String(), "stopped") {
		t.Errorf("no orderly stop in logs:\n%s", srv.Logs)
	}
}

func TestCLIErrors(t *testing.T) {
	in := newInstance(t)
	in.CreateClient("--name", "taken", "--id", "taken-id")
	bad := filepath.Join(in.DataDir, "bad.yaml")
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
		_, stderr, code := in.CLI(tc.stdin, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("gatehouse %s: got exit %d, stderr %q; want failure mentioning %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
		if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 && !strings.Contains(tc.want, "bogus") {
			t.Errorf("gatehouse %s: error is %d lines, want one: %q", strings.Join(tc.args, " "), n+1, stderr)
		}
	}

	// A supplied secret of 32+ characters is accepted and works.
	supplied := strings.Repeat("s3cr3t-", 6)
	out, stderr, code := in.CLI(supplied+"\n", "clients", "create", "--name", "supplied", "--secret-stdin", "--output", "json")
	if code != 0 {
		t.Fatalf("create with supplied secret: %s", stderr)
	}
	var c createdClient
	json.Unmarshal([]byte(out), &c)
	if c.ClientSecret != supplied {
		t.Errorf("supplied secret: got %q, want it echoed once", c.ClientSecret)
	}
}
