package e2e

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// mcpProject is the Node project with the MCP server and client built on
// the official MCP TypeScript SDK (e2e/mcp: package.json pins the versions,
// package-lock.json the whole tree; .ci/run runs `npm ci` there).
const mcpProject = "mcp"

// mcpCatalog is the scope catalog of the MCP endpoint, a resource of its
// own (RFC 8707) beside the default REST API (the built-in catalog): one
// scope for the three methods of the Streamable HTTP transport.
// self_service lets clients nobody registered (open registration, client
// ID metadata documents) be allowed it, and with it the resource.
const mcpCatalog = `mcp:tools:
  label: Use the tools of the MCP server
  endpoints:
    - mcp: [GET, POST, DELETE]
  self_service: true
`

// mcpCase is one way an MCP client gets its client ID.
type mcpCase struct {
	name string
	// registration is serve's registration.policy: "open" lets the SDK
	// register the client itself (RFC 7591); "" (off) has the test
	// register a public client allowed the resource with the CLI and give
	// its ID to the client in MCP_CLIENT_ID.
	registration string
	// document: the client identifies by a client ID metadata document,
	// which the test publishes over https on loopback and gives the
	// client in MCP_CLIENT_METADATA_URL; serve accepts such documents.
	document bool
	// standalone runs the gateway as `gatehouse gateway` configured for
	// the resource; otherwise serve's embedded gateway is the resource's
	// (gateway.resource names the resources: entry).
	standalone bool
}

var mcpCases = []mcpCase{
	{name: "pre-registered client", standalone: true},
	{name: "dynamic registration", registration: "open"},
	// Registration is open too: the SDK prefers the document where the
	// server supports both.
	{name: "client ID metadata document", registration: "open", document: true},
}

// TestMCP runs the MCP authorization flow with the official MCP TypeScript
// SDK's client (e2e/mcp/client.mjs) against a small MCP server from the
// same SDK (e2e/mcp/server.mjs) behind the gateway. The MCP endpoint is a
// resource of its own (resources:, with its own catalog), beside the
// default REST API, and the gateway is that resource's: the first call
// gets 401 with resource_metadata; the client reads the Protected Resource
// Metadata and the authorization server's metadata, gets a client ID
// (a pre-registered one, registration, or its metadata document's URL),
// sends the user to the authorization endpoint with PKCE and the resource
// indicator; the test logs in and consents as the user's browser would and
// follows the redirect to the client's loopback callback; the client
// exchanges the code for a token for the resource, reconnects and calls
// the `add` tool. The token is for the user, with the MCP resource as its
// audience; a token for the default REST API is refused at the MCP
// endpoint; the MCP server sees the user's identity from the gateway.
func TestMCP(t *testing.T) {
	node := mcpNode(t)
	for _, tc := range mcpCases {
		t.Run(tc.name, func(t *testing.T) { testMCP(t, node, tc) })
	}
}

func testMCP(t *testing.T, node string, tc mcpCase) {
	up := startNode(t, node, nil, "server.mjs")
	upURL, err := url.Parse(up.wait(t, "the MCP server to listen", "listening")["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	upstream := upURL.Scheme + "://" + upURL.Host

	in := newInstance(t)
	dir := t.TempDir()
	catalog := filepath.Join(dir, "mcp-scopes.yaml")
	if err := os.WriteFile(catalog, []byte(mcpCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	// The gateway's address is chosen first: it is part of the resource
	// identifier, which the MCP client is given, and which serve puts in
	// the resource's tokens as their audience.
	gwAddr := freeAddr(t)
	resourceID := "http://" + gwAddr + "/mcp"
	prmURL := "http://" + gwAddr + "/.well-known/oauth-protected-resource/mcp"
	cfg := "resources:\n  - id: " + resourceID + "\n    name: MCP server\n    scopes_file: " + catalog + "\n"
	if tc.registration != "" {
		cfg += "registration:\n  policy: " + tc.registration + "\n"
	}
	var doc *mcpDocument
	if tc.document {
		doc = newMCPDocument(t)
		cfg += "client_metadata_documents:\n  enabled: true\nclient_fetch:\n  allow_loopback: true\n"
		// serve trusts the document server's certificate (Go reads
		// SSL_CERT_FILE for the system's roots).
		in = instance{in.WithEnv("SSL_CERT_FILE=" + doc.certFile)}
	}
	if !tc.standalone {
		cfg += "gateway:\n  enabled: true\n  addr: " + gwAddr + "\n  upstream: " + upstream + "\n  resource: " + resourceID + "\n"
	}
	cfgFile := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	in = instance{in.WithEnv("GATEHOUSE_CONFIG=" + cfgFile)}
	srv := in.serve()
	if tc.standalone {
		in.Start([]string{"gateway", "--addr", gwAddr, "--upstream", upstream, "--issuer", srv.URL,
			"--scopes", catalog, "--resource", resourceID, "--audience", resourceID}, gatewayRE)
	} else {
		harness.Within(t, 10*time.Second, "the embedded gateway listening in serve's log", func() bool {
			return gatewayRE.MatchString(srv.Logs.String())
		})
	}

	// The gateway is the MCP resource's: its metadata names the resource,
	// Gatehouse, and the resource's scopes only.
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(harness.Fetch(t, prmURL)), &prm); err != nil {
		t.Fatal(err)
	}
	if prm.Resource != resourceID || !slices.Equal(prm.AuthorizationServers, []string{srv.URL}) || !slices.Equal(prm.Scopes, []string{"mcp:tools"}) {
		t.Errorf("protected resource metadata: got %+v, want resource %s, authorization server %s, scopes [mcp:tools]", prm, resourceID, srv.URL)
	}

	const password = "correct horse battery"
	var user struct{ ID string }
	if err := json.Unmarshal([]byte(in.MustCLIInput(password+"\n", "users", "create", "--username", "alice",
		"--display-name", "Alice", "--output", "json")), &user); err != nil || user.ID == "" {
		t.Fatalf("users create: %q, %v", user.ID, err)
	}
	var env []string
	wantClientID, wantHow := "", "dynamic registration"
	switch {
	case tc.document:
		env = append(env, "MCP_CLIENT_METADATA_URL="+doc.url)
		wantClientID, wantHow = doc.url, "client ID metadata document"
	case tc.registration == "":
		c := in.CreateClient("--name", "MCP client", "--token-endpoint-auth-method", "none",
			"--grant-types", "authorization_code,refresh_token", "--redirect-uris", "http://127.0.0.1/callback",
			"--scopes", "mcp:tools", "--resource", resourceID)
		env = append(env, "MCP_CLIENT_ID="+c.ClientID)
		wantClientID, wantHow = c.ClientID, "pre-registered"
	}

	cl := startNode(t, node, env, "client.mjs", resourceID, "add", `{"a":2,"b":40}`)
	ev := cl.wait(t, "the client to ask for authorization", "authorize")
	authURL, err := url.Parse(ev["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := authURL.Query()
	if got, want := authURL.Scheme+"://"+authURL.Host+authURL.Path, srv.URL+"/oauth/authorize"; got != want {
		t.Errorf("authorization URL %s: want the authorization endpoint %s", authURL, want)
	}
	for k, want := range map[string]string{"response_type": "code", "code_challenge_method": "S256",
		"resource": resourceID, "scope": "mcp:tools"} {
		if q.Get(k) != want {
			t.Errorf("authorization request: %s=%q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("code_challenge")) != 43 || q.Get("state") == "" || q.Get("client_id") == "" {
		t.Errorf("authorization request %v: want a code_challenge, a state and a client_id", q)
	}
	if wantClientID != "" && q.Get("client_id") != wantClientID {
		t.Errorf("authorization request: client_id=%q, want %q", q.Get("client_id"), wantClientID)
	}
	if doc != nil {
		// The client's publisher lists its redirect URI, matched exactly
		// for a metadata document's client (no loopback port exception).
		doc.publish(q.Get("redirect_uri"))
	}
	callback, consent := authorizeInBrowser(t, srv.URL, authURL.String(), "alice", password)
	for _, want := range []string{"Use the tools of the MCP server", "MCP server"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent page does not show %q:\n%s", want, consent)
		}
	}
	if !strings.HasPrefix(callback, q.Get("redirect_uri")+"?") {
		t.Fatalf("authorization response sent to %q, want the client's redirect URI %q", callback, q.Get("redirect_uri"))
	}
	if cu, err := url.Parse(callback); err != nil || cu.Query().Get("state") != q.Get("state") || cu.Query().Get("iss") != srv.URL || cu.Query().Get("code") == "" {
		t.Errorf("authorization response %q: want a code, the request's state and iss=%s (RFC 9207)", callback, srv.URL)
	}
	// The browser follows the redirect to the client's loopback listener.
	resp, err := http.Get(callback)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("client's callback: got %d %s, want 200", resp.StatusCode, body)
	}

	events := cl.exit(t)
	var exchanges []string // "METHOD URL STATUS" of each HTTP exchange of the SDK
	var tokenForm, registration map[string]any
	for _, e := range events {
		if e["event"] == "http" {
			exchanges = append(exchanges, fmt.Sprint(e["method"], " ", e["url"], " ", e["status"]))
			switch e["url"] {
			case srv.URL + "/oauth/token":
				tokenForm, _ = e["form"].(map[string]any)
			case srv.URL + "/oauth/register":
				registration, _ = e["json"].(map[string]any)
			}
		}
	}

	// The first call had no token and got 401 naming the metadata.
	first := cl.first(t, "http")
	if first["method"] != "POST" || first["url"] != resourceID || first["status"] != float64(401) ||
		!strings.Contains(fmt.Sprint(first["www_authenticate"]), `resource_metadata="`+prmURL+`"`) {
		t.Errorf("first exchange: got %v, want POST %s answered 401 with resource_metadata=%q", first, resourceID, prmURL)
	}
	// Then, in order: the metadata, the authorization server's metadata,
	// registration if the client registers, the code exchange, the MCP
	// calls with the token, and the end of the session.
	want := []string{
		"POST " + resourceID + " 401",
		"GET " + prmURL + " 200",
		"GET " + srv.URL + "/.well-known/oauth-authorization-server 200",
	}
	registers := tc.registration != "" && !tc.document
	if registers {
		want = append(want, "POST "+srv.URL+"/oauth/register 201")
	}
	want = append(want,
		"POST "+srv.URL+"/oauth/token 200",
		"POST "+resourceID+" 200",
		"DELETE "+resourceID+" 200",
	)
	if !isSubsequence(want, exchanges) {
		t.Errorf("the SDK's HTTP exchanges:\n  %s\nwant, in this order among them:\n  %s",
			strings.Join(exchanges, "\n  "), strings.Join(want, "\n  "))
	}
	if !registers && slices.ContainsFunc(exchanges, func(x string) bool { return strings.Contains(x, "/oauth/register") }) {
		t.Errorf("the SDK registered, want it to use its client ID:\n  %s", strings.Join(exchanges, "\n  "))
	}
	if registers {
		// What the SDK registers (RFC 7591): a public client for the code
		// grant and refresh tokens, with the resource's scope.
		if fmt.Sprint(registration["grant_types"]) != "[authorization_code refresh_token]" ||
			registration["token_endpoint_auth_method"] != "none" || registration["scope"] != "mcp:tools" {
			t.Errorf("registration request: got %v, want grant types authorization_code and refresh_token, method none, scope mcp:tools", registration)
		}
	}
	for k, want := range map[string]string{"grant_type": "authorization_code", "resource": resourceID,
		"client_id": q.Get("client_id"), "code_verifier": "(secret)"} {
		if tokenForm[k] != want {
			t.Errorf("token request: %s=%v, want %q (form %v)", k, tokenForm[k], want, tokenForm)
		}
	}

	client := cl.first(t, "client")
	if client["how"] != wantHow || client["client_id"] != q.Get("client_id") {
		t.Errorf("client: got %v, want %s with client_id %s", client, wantHow, q.Get("client_id"))
	}

	tok := cl.first(t, "token")
	claims, _ := tok["claims"].(map[string]any)
	if tok["token_type"] != "Bearer" || tok["scope"] != "mcp:tools" || tok["refresh_token"] != true {
		t.Errorf("token: got %v, want a Bearer token with scope mcp:tools and a refresh token", tok)
	}
	for k, want := range map[string]any{"aud": resourceID, "iss": srv.URL, "sub": user.ID,
		"client_id": q.Get("client_id"), "scope": "mcp:tools"} {
		if claims[k] != want {
			t.Errorf("access token claim %s: got %v, want %v", k, claims[k], want)
		}
	}

	res := cl.first(t, "result")
	var result struct {
		Content []struct {
			Type, Text string
		}
		StructuredContent struct{ Sum *float64 }
		IsError           bool
	}
	b, _ := json.Marshal(res["result"])
	if err := json.Unmarshal(b, &result); err != nil || result.IsError || len(result.Content) != 1 ||
		result.Content[0].Text != "42" || result.StructuredContent.Sum == nil || *result.StructuredContent.Sum != 42 {
		t.Errorf("add(2, 40): got %s, want the text 42 and structuredContent {sum: 42}", b)
	}

	// A token for the default resource, the REST API, is refused at the
	// MCP endpoint: the gateway takes only tokens for its resource.
	rest := in.CreateClient("--name", "REST API client", "--scopes", "api")
	restToken := srv.accessToken(t, rest, "")
	if res := call(t, "POST", resourceID, restToken); res.status != 401 ||
		!strings.Contains(res.challenge, `error="invalid_token"`) || !strings.Contains(res.challenge, `resource_metadata="`+prmURL+`"`) {
		t.Errorf("POST %s with a token for the REST API (aud %s): got %d %q, want 401 invalid_token naming the metadata", resourceID, srv.URL, res.status, res.challenge)
	}

	// The MCP server saw the user's calls, and nothing else.
	saw := map[string]bool{}
	for _, e := range up.all() {
		if e["event"] != "request" {
			continue
		}
		if e["subject"] != user.ID || e["client_id"] != q.Get("client_id") || e["scope"] != "mcp:tools" {
			t.Errorf("the MCP server got %v, want only calls with the user's identity", e)
		}
		saw[fmt.Sprint(e["method"])] = true
	}
	if !saw["POST"] || !saw["DELETE"] {
		t.Errorf("the MCP server saw methods %v, want POST and DELETE", saw)
	}
}

// mcpDocument is the client ID metadata document of the MCP client, served
// over https on loopback (the SDK takes only an https URL). Its redirect
// URI is the client's loopback callback, known once the client runs.
type mcpDocument struct {
	url      string
	certFile string // the server's certificate, PEM

	mu       sync.Mutex
	redirect string
}

func newMCPDocument(t *testing.T) *mcpDocument {
	t.Helper()
	d := &mcpDocument{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		redirect := d.redirect
		d.mu.Unlock()
		if r.URL.Path != "/mcp-client.json" || redirect == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": d.url, "client_name": "Gatehouse e2e MCP client", "redirect_uris": []string{redirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(srv.Close)
	d.url = srv.URL + "/mcp-client.json"
	d.certFile = filepath.Join(t.TempDir(), "docs.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(d.certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// publish makes the document list redirect as the client's redirect URI.
func (d *mcpDocument) publish(redirect string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.redirect = redirect
}

// authorizeInBrowser does what the user does in the browser with the
// authorization URL: logs in on the console's login page, allows the
// request on the consent page, and returns the URL the authorization
// server then redirects to, and the consent page.
func authorizeInBrowser(t *testing.T, issuer, authURL, username, password string) (redirect, consent string) {
	t.Helper()
	b := newBrowser(t)
	next := authURL
	for range 8 {
		status, h, page := b.get(next)
		switch {
		case status == http.StatusSeeOther || status == http.StatusFound:
		case status == 200 && strings.Contains(page, `action="/console/login"`):
			form := url.Values{"username": {username}, "password": {password}}
			for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			status, h, page = b.post(issuer+"/console/login", form)
			if status != http.StatusSeeOther {
				t.Fatalf("login: got %d, want 303:\n%s", status, page)
			}
		case status == 200 && strings.Contains(page, `action="/oauth/authorize"`):
			consent = page
			form := url.Values{"decision": {"allow"}}
			for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			status, h, page = b.post(issuer+"/oauth/authorize", form)
			if status != http.StatusSeeOther {
				t.Fatalf("consent: got %d, want 303:\n%s", status, page)
			}
		default:
			t.Fatalf("GET %s: got %d, want a redirect, the login page or the consent page:\n%s", next, status, page)
		}
		loc, err := url.Parse(next)
		if err == nil {
			loc, err = loc.Parse(h.Get("Location"))
		}
		if err != nil {
			t.Fatalf("redirect to %q: %v", h.Get("Location"), err)
		}
		if !strings.HasPrefix(loc.String(), issuer+"/") {
			return loc.String(), consent
		}
		next = loc.String()
	}
	t.Fatalf("no redirect out of %s after 8 pages", issuer)
	return "", ""
}

// isSubsequence reports whether want appears in got in order, not
// necessarily next to each other.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// mcpNode returns the path of node with e2e/mcp's dependencies installed
// (`npm ci` if they are not, or not the pinned ones). Without node the
// test is skipped, except in CI.
func mcpNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required in CI (.ci/run installs Node.js and runs npm ci in e2e/mcp): %v", err)
		}
		t.Skipf("node not installed (%v): the MCP test needs Node.js 20 or later and `npm ci` in e2e/mcp", err)
	}
	// go test's result cache reruns the test when a file it opened
	// changes: node runs the scripts, so open them here.
	for _, f := range []string{"server.mjs", "client.mjs", "package-lock.json"} {
		if _, err := os.ReadFile(filepath.Join(mcpProject, f)); err != nil {
			t.Fatal(err)
		}
	}
	var pkg struct{ Dependencies map[string]string }
	if err := readJSONFile(filepath.Join(mcpProject, "package.json"), &pkg); err != nil {
		t.Fatal(err)
	}
	var installed struct{ Version string }
	sdk := pkg.Dependencies["@modelcontextprotocol/sdk"]
	err = readJSONFile(filepath.Join(mcpProject, "node_modules", "@modelcontextprotocol", "sdk", "package.json"), &installed)
	if err == nil && installed.Version == sdk {
		return node
	}
	npm, lerr := exec.LookPath("npm")
	if lerr != nil {
		t.Fatalf("e2e/mcp has no @modelcontextprotocol/sdk %s installed, and there is no npm to install it: run `npm ci` in e2e/mcp", sdk)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund", "--no-update-notifier")
	cmd.Dir = mcpProject
	cmd.Stdin = nil
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("npm ci in e2e/mcp failed (%v; offline?): run it there by hand:\n%s", err, out)
		}
		t.Fatalf("npm ci in e2e/mcp: %v:\n%s", err, out)
	}
	return node
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// nodeProc is a script of e2e/mcp running in node; it prints one JSON
// object a line on stdout.
type nodeProc struct {
	name   string
	cmd    *exec.Cmd
	stderr *harness.SyncBuffer
	mu     sync.Mutex
	events []map[string]any
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// nodeTimeout bounds each wait for a node script: it is a safety net for a
// hung flow, not a measure of speed.
const nodeTimeout = 60 * time.Second

// startNode runs node script args in e2e/mcp with env added to the test's
// environment; it is killed when the test ends.
func startNode(t *testing.T, node string, env []string, script string, args ...string) *nodeProc {
	t.Helper()
	cmd := exec.Command(node, append([]string{script}, args...)...)
	cmd.Dir = mcpProject
	cmd.Env = append(os.Environ(), env...)
	p := &nodeProc{name: script, cmd: cmd, stderr: &harness.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				e = map[string]any{"event": "text", "text": sc.Text()}
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
		}
		io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// all returns the events so far.
func (p *nodeProc) all() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// find returns the first event named name, if any, and fails the test on
// an error event.
func (p *nodeProc) find(t *testing.T, name string) map[string]any {
	t.Helper()
	for _, e := range p.all() {
		if e["event"] == "error" {
			t.Fatalf("%s failed: %s\n%s", p.name, e["message"], p.logs())
		}
		if e["event"] == name {
			return e
		}
	}
	return nil
}

// wait waits for the first event named name.
func (p *nodeProc) wait(t *testing.T, what, name string) map[string]any {
	t.Helper()
	deadline := time.After(nodeTimeout)
	for {
		if e := p.find(t, name); e != nil {
			return e
		}
		select {
		case <-p.exited:
			if e := p.find(t, name); e != nil {
				return e
			}
			t.Fatalf("%s: %s exited (%v)\n%s", what, p.name, p.err, p.logs())
		case <-deadline:
			t.Fatalf("%s: nothing from %s within %s\n%s", what, p.name, nodeTimeout, p.logs())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// first returns the first event named name, failing the test without one.
func (p *nodeProc) first(t *testing.T, name string) map[string]any {
	t.Helper()
	e := p.find(t, name)
	if e == nil {
		t.Fatalf("%s printed no %q event\n%s", p.name, name, p.logs())
	}
	return e
}

// exit waits for the script to end, fails the test unless it succeeded,
// and returns its events.
func (p *nodeProc) exit(t *testing.T) []map[string]any {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(nodeTimeout):
		t.Fatalf("%s did not finish within %s\n%s", p.name, nodeTimeout, p.logs())
	}
	p.find(t, "error")
	if p.err != nil {
		t.Fatalf("%s: %v\n%s", p.name, p.err, p.logs())
	}
	return p.all()
}

// logs is the script's output, for failure messages.
func (p *nodeProc) logs() string {
	var b strings.Builder
	for _, e := range p.all() {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	if s := p.stderr.String(); s != "" {
		b.WriteString("stderr:\n" + s)
	}
	return b.String()
}
