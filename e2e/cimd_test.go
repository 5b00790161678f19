package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestClientMetadataDocument: with client_metadata_documents enabled (and,
// for the test, client_fetch.allow_loopback), an app whose client_id is the
// URL of its metadata document runs the authorization code flow with PKCE
// through the real binary without being registered: the consent page names
// it and the document's host, the token's client_id is the URL, and the
// client appears in `clients list` and the audit trail. A document whose
// client_id is not its URL gets an error page.
func TestClientMetadataDocument(t *testing.T) {
	const cb = "http://127.0.0.1:33418/callback"
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		self := "http://" + r.Host + r.URL.Path
		doc := map[string]any{
			"client_id": self, "client_name": "Example Agent", "redirect_uris": []string{cb},
			"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
		}
		switch r.URL.Path {
		case "/agent.json":
		case "/impostor.json":
			doc["client_id"] = "https://agent.example/client.json"
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(docs.Close)
	agent := docs.URL + "/agent.json"

	in := newInstance(t)
	in.MustCLIInput("correct horse battery\n", "users", "create", "--username", "alice", "--display-name", "Alice", "--role", "admin")
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("client_fetch:\n  allow_loopback: true\nclient_metadata_documents:\n  enabled: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := in.serve("--config", cfg)
	if !strings.Contains(srv.Logs.String(), "client_fetch.allow_loopback is on") {
		t.Errorf("serve did not warn about client_fetch.allow_loopback:\n%s", srv.Logs)
	}

	req, _ := http.NewRequest("GET", srv.URL+"/.well-known/oauth-authorization-server", nil)
	if _, md := harness.DoJSON(t, req); md["client_id_metadata_document_supported"] != true {
		t.Errorf("metadata: client_id_metadata_document_supported = %v, want true", md["client_id_metadata_document_supported"])
	}

	b := newBrowser(t)
	_, _, page := b.get(srv.URL + "/console/login")
	if status, _, body := b.post(srv.URL+"/console/login", url.Values{"csrf_token": {csrfField(t, page)},
		"username": {"alice"}, "password": {"correct horse battery"}, "next": {"/console/"}}); status != http.StatusSeeOther {
		t.Fatalf("login: got %d\n%s", status, body)
	}

	vb := make([]byte, 32)
	rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {agent}, "redirect_uri": {cb}, "scope": {"profile search"},
		"state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	status, _, body := b.get(srv.URL + "/oauth/authorize?" + q.Encode())
	host := strings.TrimPrefix(docs.URL, "http://")
	if status != http.StatusOK || !strings.Contains(body, "Example Agent") || !strings.Contains(body, "<strong>"+host+"</strong>") {
		t.Fatalf("consent page: got %d, want 200 naming Example Agent and %s\n%s", status, host, body)
	}
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("decision", "allow")
	status, h, body := b.post(srv.URL+"/oauth/authorize", form)
	loc, err := url.Parse(h.Get("Location"))
	if status != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), cb) || loc.Query().Get("code") == "" {
		t.Fatalf("allow: got %d %q, want a redirect to the callback with a code\n%s", status, h.Get("Location"), body)
	}

	tf := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {cb},
		"code_verifier": {verifier}, "client_id": {agent}}
	req, _ = http.NewRequest("POST", srv.URL+"/oauth/token", strings.NewReader(tf.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, tok := harness.DoJSON(t, req)
	if status != http.StatusOK || tok["refresh_token"] == nil {
		t.Fatalf("token: got %d %v, want tokens", status, tok)
	}
	parts := strings.Split(tok["access_token"].(string), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["client_id"] != agent || claims["scope"] != "profile search" {
		t.Errorf("access token claims client_id=%v scope=%v, want %s and profile search", claims["client_id"], claims["scope"], agent)
	}

	if list := in.MustCLI("clients", "list"); !strings.Contains(list, agent) {
		t.Errorf("clients list lacks %s:\n%s", agent, list)
	}
	if audit := in.MustCLI("audit", "--target", agent); !strings.Contains(audit, "client-metadata-document") {
		t.Errorf("audit for %s: got\n%s\nwant an event by client-metadata-document", agent, audit)
	}
	if _, errOut, code := in.CLI("", "clients", "update", agent, "--name", "Renamed"); code == 0 || !strings.Contains(errOut, "metadata document") {
		t.Errorf("clients update of a document's client: exit %d, stderr %q; want a refusal", code, errOut)
	}

	q.Set("client_id", docs.URL+"/impostor.json")
	if status, _, body := b.get(srv.URL + "/oauth/authorize?" + q.Encode()); status != http.StatusBadRequest || !strings.Contains(body, "not exactly the URL") {
		t.Errorf("impostor document: got %d, want 400 saying its client_id is not the URL\n%s", status, body)
	}
}
