package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// writeConfig writes a config file into the test's temporary directory.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// registerClient POSTs metadata to /oauth/register with a bearer token
// ("" : none).
func registerClient(t *testing.T, srvURL, token, metadata string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", srvURL+"/oauth/register", strings.NewReader(metadata))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return harness.DoJSON(t, req)
}

// TestRegistrationWithInitialAccessToken: the operator creates an initial
// access token with the CLI; a client registers with it (RFC 7591), gets a
// token, reads and deletes its registration (RFC 7592); the token is spent
// after its uses.
func TestRegistrationWithInitialAccessToken(t *testing.T) {
	in := newInstance(t)
	cfg := writeConfig(t, "registration:\n  policy: initial_access_token\n")
	tok := strings.TrimSpace(in.MustCLI("registration", "token", "create", "--uses", "1", "--expires", "24h", "--description", "CI", "--config", cfg))
	if !strings.HasPrefix(tok, "ghi_") {
		t.Fatalf("registration token create: got %q, want a ghi_ token alone on stdout", tok)
	}
	srv := in.serve("--config", cfg)

	var md map[string]any
	if status, m := harness.DoJSON(t, mustGet(srv.URL+"/.well-known/oauth-authorization-server")); status != 200 || m["registration_endpoint"] != srv.URL+"/oauth/register" {
		t.Fatalf("metadata: got %d, registration_endpoint %v", status, m["registration_endpoint"])
	}
	body := `{"client_name":"Nightly export","grant_types":["client_credentials"],"scope":"search","token_endpoint_auth_method":"client_secret_basic"}`
	if status, m := registerClient(t, srv.URL, "", body); status != 401 || m["error"] != "invalid_token" {
		t.Fatalf("registration without the token: got %d %v, want 401 invalid_token", status, m)
	}
	status, md := registerClient(t, srv.URL, tok, body)
	if status != 201 {
		t.Fatalf("registration: got %d %v", status, md)
	}
	id, _ := md["client_id"].(string)
	secret, _ := md["client_secret"].(string)
	regToken, _ := md["registration_access_token"].(string)
	if code, m := srv.token(t, id, secret, "search"); code != 200 || m["access_token"] == nil {
		t.Fatalf("token for the registered client: got %d %v", code, m)
	}
	if status, m := registerClient(t, srv.URL, tok, body); status != 401 {
		t.Errorf("second registration with a single-use token: got %d %v, want 401", status, m)
	}

	var shown map[string]any
	if err := json.Unmarshal([]byte(in.MustCLI("clients", "show", id, "--output", "json")), &shown); err != nil || shown["self_registered"] != "initial_access_token" {
		t.Errorf("clients show --output json: self_registered %v (%v), want initial_access_token", shown["self_registered"], err)
	}
	if show := in.MustCLI("clients", "show", id); !strings.Contains(show, "self-registered") || !strings.Contains(show, "initial_access_token") {
		t.Errorf("clients show: got\n%s\nwant a self-registered row", show)
	}
	if list := in.MustCLI("registration", "token", "list", "--config", cfg); !strings.Contains(list, "1/1") || !strings.Contains(list, "CI") {
		t.Errorf("registration token list: got\n%s\nwant the token with 1/1 uses", list)
	}
	if audit := in.MustCLI("audit", "--target", id); !strings.Contains(audit, "registration:iat_") || !strings.Contains(audit, "self-registered") {
		t.Errorf("audit: got\n%s\nwant the creation by registration:iat_…", audit)
	}
	for name, text := range map[string]string{"server log": srv.Logs.String(), "audit": in.MustCLI("audit")} {
		for _, s := range []string{tok, secret, regToken} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows a secret token", name)
			}
		}
	}

	// The admin API issues them too: the CLI's remote mode.
	ops := in.CreateClient("--name", "ops", "--scopes", "gatehouse:admin")
	remote := in.Instance.WithEnv("GATEHOUSE_CLIENT_ID="+ops.ClientID, "GATEHOUSE_CLIENT_SECRET="+ops.ClientSecret)
	var issued struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(remote.MustCLI("registration", "token", "create", "--uses", "1", "--expires", "1h", "--output", "json", "--server", srv.URL)), &issued); err != nil || !strings.HasPrefix(issued.Token, "ghi_") {
		t.Fatalf("registration token create --server: %+v, %v", issued, err)
	}
	if status, m := registerClient(t, srv.URL, issued.Token, body); status != 201 {
		t.Errorf("registration with a token issued over the admin API: got %d %v", status, m)
	}
	if list := remote.MustCLI("registration", "token", "list", "--server", srv.URL); !strings.Contains(list, issued.ID) {
		t.Errorf("registration token list --server: got\n%s\nwant %s", list, issued.ID)
	}
	remote.MustCLI("registration", "token", "revoke", issued.ID, "--server", srv.URL)
	if _, errOut, code := remote.CLI("", "registration", "token", "revoke", issued.ID, "--server", srv.URL); code == 0 || !strings.Contains(errOut, "no initial access token") {
		t.Errorf("revoking it again: exit %d %q, want a not-found message", code, errOut)
	}

	// RFC 7592: read, then delete, with the registration access token.
	conf, _ := md["registration_client_uri"].(string)
	req, _ := http.NewRequest("GET", conf, nil)
	req.Header.Set("Authorization", "Bearer "+regToken)
	if status, m := harness.DoJSON(t, req); status != 200 || m["client_id"] != id {
		t.Fatalf("read the registration: got %d %v", status, m)
	}
	req, _ = http.NewRequest("DELETE", conf, nil)
	req.Header.Set("Authorization", "Bearer "+regToken)
	if status, _ := harness.DoJSON(t, req); status != 204 {
		t.Fatalf("delete the registration: got %d, want 204", status)
	}
	if _, errOut, code := in.CLI("", "clients", "show", id); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("clients show after the delete: exit %d %q, want not found", code, errOut)
	}
}

// TestRegistrationOpen: with the open policy a public client registers
// without credentials and runs the authorization code flow with PKCE.
func TestRegistrationOpen(t *testing.T) {
	in := newInstance(t)
	in.MustCLIInput("correct horse battery\n", "users", "create", "--username", "alice", "--role", "admin")
	cfg := writeConfig(t, "registration:\n  policy: open\n")
	srv := in.serve("--config", cfg)
	const cb = "http://127.0.0.1:53682/callback"

	if status, m := registerClient(t, srv.URL, "", `{"redirect_uris":["`+cb+`"],"grant_types":["client_credentials"]}`); status != 400 || m["error"] != "invalid_client_metadata" {
		t.Errorf("open registration of client credentials: got %d %v, want 400 invalid_client_metadata", status, m)
	}
	status, md := registerClient(t, srv.URL, "", `{"client_name":"Agent","redirect_uris":["`+cb+`"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none","scope":"profile"}`)
	if status != 201 || md["client_secret"] != nil {
		t.Fatalf("open registration: got %d %v, want 201 without a secret", status, md)
	}
	id := md["client_id"].(string)

	b := newBrowser(t)
	_, _, page := b.get(srv.URL + "/console/login")
	if status, _, body := b.post(srv.URL+"/console/login", url.Values{"csrf_token": {csrfField(t, page)},
		"username": {"alice"}, "password": {"correct horse battery"}, "next": {"/console/"}}); status != http.StatusSeeOther && status != http.StatusFound {
		t.Fatalf("login: got %d\n%s", status, body)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	verifier := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {cb}, "scope": {"profile"}, "state": {"s1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	status, h, body := b.get(srv.URL + "/oauth/authorize?" + q.Encode())
	if status == http.StatusOK && strings.Contains(body, "Allow") {
		if !strings.Contains(body, "Agent") {
			t.Errorf("consent page does not name the registered client")
		}
		form := url.Values{}
		for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		form.Set("decision", "allow")
		status, h, body = b.post(srv.URL+"/oauth/authorize", form)
	}
	loc, err := url.Parse(h.Get("Location"))
	if status != http.StatusFound && status != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: got %d %q, want a redirect with a code\n%s", status, h.Get("Location"), body)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {cb},
		"client_id": {id}, "code_verifier": {verifier}}
	req, _ := http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, m := harness.DoJSON(t, req); status != 200 || m["access_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("code exchange: got %d %v, want tokens", status, m)
	}
	if list := in.MustCLI("clients", "list", "--output", "json"); !strings.Contains(list, `"self_registered": "open"`) {
		t.Errorf("clients list --output json: want the client marked self_registered open\n%s", list)
	}
}
