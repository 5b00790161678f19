package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// tokenAt asks for a client-credentials token at path with an
// Authorization header of the Basic scheme made of user and pass as given
// (not encoded), as curl -u does.
func (s server) tokenAt(t *testing.T, path, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+path, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	code, _ := harness.DoJSON(t, req)
	return code
}

// TestCurlBasicEverySecret: a supplied secret with + % / = works in Basic
// raw (curl -u) and form-urlencoded (RFC 6749 §2.3.1), at the canonical
// token path and at both default aliases; an encoded client ID works too.
func TestCurlBasicEverySecret(t *testing.T) {
	in := newInstance(t)
	srv := in.serve()
	const secret = "a+b/c=d%2Fe%zz+0123456789abcdefghijklmnop=="
	out := in.MustCLIInput(secret+"\n", "clients", "create", "--name", "supplied", "--id", "supplied.client", "--secret-stdin", "--output", "json")
	if !strings.Contains(out, `"supplied.client"`) {
		t.Fatalf("create: %s", out)
	}
	for _, path := range []string{"/oauth/token", "/oauth/access_token", "/oauth/v2/token"} {
		for _, tc := range []struct {
			name, user, pass string
			want             int
		}{
			{"raw", "supplied.client", secret, 200},
			{"form-urlencoded", url.QueryEscape("supplied.client"), url.QueryEscape(secret), 200},
			{"encoded ID", "supplied%2Eclient", secret, 200},
			{"wrong", "supplied.client", secret + "x", 401},
		} {
			if got := srv.tokenAt(t, path, tc.user, tc.pass); got != tc.want {
				t.Errorf("%s %s: got %d, want %d", path, tc.name, got, tc.want)
			}
		}
	}
	// Discovery names the canonical path only.
	var md map[string]any
	json.Unmarshal([]byte(harness.Fetch(t, srv.URL+"/.well-known/oauth-authorization-server")), &md)
	if md["token_endpoint"] != srv.URL+"/oauth/token" {
		t.Errorf("token_endpoint: got %v, want %s/oauth/token", md["token_endpoint"], srv.URL)
	}
}

// TestTokenAliasConfig: --token-alias, GATEHOUSE_TOKEN_ALIASES and
// token.alias_paths replace the default aliases; an empty list turns them
// off.
func TestTokenAliasConfig(t *testing.T) {
	in := newInstance(t)
	c := in.CreateClient("--name", "alias")
	emptyCfg := filepath.Join(in.DataDir, "no-aliases.yaml")
	os.WriteFile(emptyCfg, []byte("token:\n  alias_paths: []\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want map[string]int
	}{
		{"flag", nil, []string{"--token-alias", "/api/token", "--token-alias", "/v1/oauth2/token"},
			map[string]int{"/oauth/token": 200, "/api/token": 200, "/v1/oauth2/token": 200, "/oauth/v2/token": 404, "/oauth/access_token": 404}},
		{"env", []string{"GATEHOUSE_TOKEN_ALIASES=/api/token,/x/token"}, nil,
			map[string]int{"/api/token": 200, "/x/token": 200, "/oauth/v2/token": 404}},
		{"flag empty", nil, []string{"--token-alias", ""},
			map[string]int{"/oauth/token": 200, "/oauth/v2/token": 404, "/oauth/access_token": 404}},
		{"file empty list", nil, []string{"--config", emptyCfg},
			map[string]int{"/oauth/token": 200, "/oauth/v2/token": 404, "/oauth/access_token": 404}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append([]string{}, in.Env...), tc.env...)
			srv := server{harness.Start(t, binary, env, append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), harness.ListenRE)}
			for path, want := range tc.want {
				if got := srv.tokenAt(t, path, c.ClientID, c.ClientSecret); got != want {
					t.Errorf("%s: got %d, want %d", path, got, want)
				}
			}
			srv.Cmd.Process.Kill()
			<-srv.Done
		})
	}
	_, stderr, code := in.CLI("", "serve", "--addr", "127.0.0.1:0", "--token-alias", "/oauth/introspect")
	if code == 0 || !strings.Contains(stderr, `token.alias_paths[0] "/oauth/introspect" is a built-in path`) {
		t.Errorf("alias on a built-in path: exit %d, stderr %q", code, stderr)
	}
}

// TestFirstContact: GET / leads a browser to the console; start-up prints
// the console and discovery URLs in the log line and on stderr.
func TestFirstContact(t *testing.T) {
	in := newInstance(t)
	srv := in.Start([]string{"serve", "--addr", "127.0.0.1:0"}, harness.ListenRE,
		regexp.MustCompile(`^\s+discovery:\s+(http://\S+)$`))
	if want := srv.URL + "/.well-known/oauth-authorization-server"; srv.Matches[1] != want {
		t.Errorf("stderr discovery URL: got %q, want %q", srv.Matches[1], want)
	}
	logs := srv.Logs.String()
	for _, want := range []string{
		"console=" + srv.URL + "/console/",
		"discovery=" + srv.URL + "/.well-known/oauth-authorization-server",
		"    console:    " + srv.URL + "/console/\n",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, logs)
		}
	}
	br := newBrowser(t)
	code, hdr, _ := br.get(srv.URL + "/")
	if (code != http.StatusSeeOther && code != http.StatusFound) || hdr.Get("Location") != "/console/" {
		t.Fatalf("GET /: got %d Location %q, want a redirect to /console/", code, hdr.Get("Location"))
	}
	// Following it lands on a console page (the login page, or setup).
	if code, _, _ := br.get(srv.URL + hdr.Get("Location")); code >= 400 {
		t.Errorf("GET /console/: got %d", code)
	}
}

// TestServePortTaken: serve on a taken port fails before it creates the
// data directory, the database or the master key.
func TestServePortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(binary, "serve", "--addr", ln.Addr().String())
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve on a taken port succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "listen on "+ln.Addr().String()) || !strings.Contains(string(out), "--addr") {
		t.Errorf("serve output: got %q, want the listen error naming --addr", out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("serve on a taken port left %v in its working directory, want nothing (no ./gatehouse-data)", entries)
	}
}

// TestCLIIssue8: version, users show and delete, clients update
// --token-endpoint-auth-method, through the binary.
func TestCLIIssue8(t *testing.T) {
	in := newInstance(t)

	var v struct {
		Version, Revision, Time, GoVersion string
		Modified                           *bool
	}
	out := in.MustCLI("version", "--output", "json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" || v.Modified == nil || !strings.HasPrefix(out, "{") {
		t.Errorf("version --output json: got %q (%v)", out, err)
	}
	if text := in.MustCLI("version"); !strings.HasPrefix(text, "gatehouse "+v.Version+"\n") {
		t.Errorf("version: got %q", text)
	}
	// What it prints is what the binary's build info says (go version -m);
	// the revision is there unless the build ran with -buildvcs=false.
	bi, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatal(err)
	}
	wantRev := ""
	if m := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=(\S+)$`).FindSubmatch(bi); m != nil {
		wantRev = string(m[1])
	}
	if v.Revision != wantRev || !strings.Contains(string(bi), v.GoVersion) {
		t.Errorf("version: got revision %q, Go %q; go version -m says:\n%s", v.Revision, v.GoVersion, bi)
	}

	const pw = "a good long password\n"
	in.MustCLIInput(pw, "users", "create", "--username", "root", "--role", "admin")
	in.MustCLIInput(pw, "users", "create", "--username", "mo")
	if out := in.MustCLI("users", "show", "mo"); !strings.Contains(out, "role:          member") {
		t.Errorf("users show mo: %q", out)
	}
	_, stderr, code := in.CLI("", "users", "delete", "root")
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "last enabled administrator") {
		t.Errorf("users delete root (last admin): exit %d, stderr %q; want one line refusing", code, stderr)
	}
	if out := in.MustCLI("users", "delete", "mo"); !strings.Contains(out, "Deleted member mo") {
		t.Errorf("users delete mo: %q", out)
	}
	if audit := in.MustCLI("audit"); !strings.Contains(audit, "user.delete") {
		t.Errorf("audit lacks user.delete:\n%s", audit)
	}

	// A confidential client becomes public (secrets deleted) and back (a
	// new secret, printed once, that works).
	srv := in.serve()
	c := in.CreateClient("--name", "web", "--grant-types", "client_credentials,authorization_code", "--redirect-uris", "https://app.example/cb")
	if got := srv.tokenAt(t, "/oauth/token", c.ClientID, c.ClientSecret); got != 200 {
		t.Fatalf("token before: got %d", got)
	}
	in.MustCLI("clients", "update", c.ClientID, "--token-endpoint-auth-method", "none", "--grant-types", "authorization_code")
	var issued createdClient
	out = in.MustCLI("clients", "update", c.ClientID, "--token-endpoint-auth-method", "client_secret_basic", "--grant-types", "client_credentials,authorization_code", "--output", "json")
	if err := json.Unmarshal([]byte(out), &issued); err != nil || !strings.HasPrefix(issued.ClientSecret, "ghs_") {
		t.Fatalf("update to client_secret_basic: %q (%v)", out, err)
	}
	harness.Within(t, 5*time.Second, "the new secret works and the old one does not", func() bool {
		return srv.tokenAt(t, "/oauth/token", c.ClientID, issued.ClientSecret) == 200 &&
			srv.tokenAt(t, "/oauth/token", c.ClientID, c.ClientSecret) == 401
	})
}
