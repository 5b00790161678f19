package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestNamedCredentials: credentials made with nothing but a name — by
// `clients create --name` or the console's "Generate New OAuth
// Credentials" form, submitted as shown — can call the API at once: they
// get the catalog's default scopes. A client allowed no scope is warned
// about and gets invalid_scope, never an empty token.
func TestNamedCredentials(t *testing.T) {
	in := newInstance(t)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0"}, harness.ListenRE, harness.SetupLinkRE)}
	up := newUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--base-path", "/api")

	canCallAPI := func(t *testing.T, id, secret string) {
		t.Helper()
		code, m := srv.token(t, id, secret, "")
		tok, _ := m["access_token"].(string)
		if code != 200 || m["scope"] != "api" || tok == "" {
			t.Fatalf("token with no scope named: got %d %v, want 200 with scope api", code, m)
		}
		for _, method := range []string{"GET", "POST", "DELETE"} {
			if res := call(t, method, gw.URL+"/api/records/1", tok); res.status != 200 {
				t.Errorf("%s /api/records/1: got %d %s, want 200", method, res.status, res.body)
			}
		}
	}

	t.Run("CLI, text output", func(t *testing.T) {
		out, errOut, code := in.CLI("", "clients", "create", "--name", "Named only")
		if code != 0 || errOut != "" {
			t.Fatalf("clients create --name: exit %d, stderr %q", code, errOut)
		}
		if !strings.Contains(out, "  scopes:         api\n") {
			t.Errorf("clients create --name printed no default scopes:\n%s", out)
		}
		id := regexp.MustCompile(`client_id:\s+(\S+)`).FindStringSubmatch(out)
		secret := regexp.MustCompile(`client_secret:\s+(\S+)`).FindStringSubmatch(out)
		if id == nil || secret == nil {
			t.Fatalf("no credentials in:\n%s", out)
		}
		canCallAPI(t, id[1], secret[1])
	})

	t.Run("CLI, JSON output", func(t *testing.T) {
		c := in.CreateClient("--name", "Named only (JSON)")
		if strings.Join(c.Scopes, " ") != "api" {
			t.Errorf("JSON scopes: got %q, want [api]", c.Scopes)
		}
		canCallAPI(t, c.ClientID, c.ClientSecret)
	})

	t.Run("console form as shown", func(t *testing.T) {
		br := newBrowser(t)
		link := srv.Matches[1]
		_, _, page := br.get(link)
		pw := "a good long password"
		form := url.Values{"csrf_token": {csrfField(t, page)}, "token": {link[strings.LastIndex(link, "=")+1:]},
			"username": {"root"}, "display_name": {"Root"}, "password": {pw}, "password2": {pw}}
		if code, _, page := br.post(srv.URL+"/console/setup", form); code != http.StatusSeeOther {
			t.Fatalf("setup: got %d:\n%s", code, page)
		}
		code, _, page := br.get(srv.URL + "/console/apps/new")
		if code != 200 {
			t.Fatalf("/console/apps/new: got %d", code)
		}
		// Submit what the page shows: its ticked boxes and a name.
		form = url.Values{"csrf_token": {csrfField(t, page)}, "name": {"Console app"}}
		for _, m := range regexp.MustCompile(`<input type="(?:checkbox|radio)" name="([^"]+)" value="([^"]+)" checked>`).FindAllStringSubmatch(page, -1) {
			form.Add(m[1], m[2])
		}
		if got := strings.Join(form["scopes"], " "); got != "api" {
			t.Errorf("scopes ticked on the form: got %q, want api", got)
		}
		code, hdr, page := br.post(srv.URL+"/console/apps/new", form)
		if code != http.StatusSeeOther {
			t.Fatalf("create: got %d:\n%s", code, page)
		}
		_, _, page = br.get(srv.URL + hdr.Get("Location"))
		id := regexp.MustCompile(`id="client-id">([^<]+)<`).FindStringSubmatch(page)
		secret := regexp.MustCompile(`id="client-secret">([^<]+)<`).FindStringSubmatch(page)
		if id == nil || secret == nil {
			t.Fatalf("created page shows no credentials:\n%s", page)
		}
		canCallAPI(t, id[1], secret[1])
	})

	t.Run("allowed no scope", func(t *testing.T) {
		out, errOut, code := in.CLI("", "clients", "create", "--name", "Nothing", "--scopes", "", "--output", "json")
		if code != 0 {
			t.Fatalf("create --scopes '': exit %d: %s", code, errOut)
		}
		if !strings.HasPrefix(errOut, "gatehouse: warning: ") || !strings.Contains(errOut, "allowed no scopes") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("create --scopes '': stderr %q, want one warning line", errOut)
		}
		c := regexp.MustCompile(`"client_id": "([^"]+)"`).FindStringSubmatch(out)
		s := regexp.MustCompile(`"client_secret": "([^"]+)"`).FindStringSubmatch(out)
		if c == nil || s == nil {
			t.Fatalf("no credentials in %s", out)
		}
		code, m := srv.token(t, c[1], s[1], "")
		if code != 400 || m["error"] != "invalid_scope" || m["error_description"] != "this client is allowed no scopes" {
			t.Errorf("token: got %d %v, want 400 invalid_scope \"this client is allowed no scopes\"", code, m)
		}
		// Updating a working client to no scope warns too.
		named := in.CreateClient("--name", "Later emptied")
		_, errOut, code = in.CLI("", "clients", "update", named.ClientID, "--scopes", "")
		if code != 0 || !strings.Contains(errOut, "allowed no scopes") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("update --scopes '': exit %d, stderr %q; want 0 and one warning line", code, errOut)
		}
	})
}

// TestPrintedScopeYAML: a catalog written as platforms print it, with the
// scopes at the top level and no "scopes:" wrapper, is checked, served and
// enforced like the wrapped form; `scopes check` reports problems one a
// line.
func TestPrintedScopeYAML(t *testing.T) {
	in := newInstance(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "scopes.yaml")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(good, `profile:
  label: Access your profile information
  endpoints:
    - workers/me: GET
search:
  label: Search records on your behalf
  endpoints:
    - records/*/search: [GET]
  default: true
  self_service: true
`)
	if out := in.MustCLI("scopes", "check", good); out != good+": 2 scopes, 2 endpoints, ok\n" {
		t.Errorf("scopes check: got %q", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	write(bad, "profile:\n  label: P\n  endpoints:\n    - workers//me: FETCH\nsearch:\n  default: maybe\n")
	out, errOut, code := in.CLI("", "scopes", "check", bad)
	want := bad + `: line 4: scope "profile": endpoint "workers//me": empty path segment ("//")` + "\n" +
		bad + `: line 4: scope "profile": endpoint "workers//me": unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)` + "\n" +
		bad + `: line 5: scope "search": missing label` + "\n" +
		bad + `: line 6: scope "search": default must be true or false` + "\n" +
		"gatehouse: " + bad + ": 4 problems\n"
	if code != 1 || out != "" || errOut != want {
		t.Errorf("scopes check of a bad file: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", code, out, errOut, want)
	}

	srv := in.serve("--scopes", good)
	up := newUpstream(t)
	gw := in.gateway("--upstream", up.URL, "--issuer", srv.URL, "--base-path", "/api", "--scopes", good)
	c := in.CreateClient("--name", "Searcher", "--catalog", good)
	if strings.Join(c.Scopes, " ") != "search" {
		t.Errorf("client created with the file's default: scopes %q, want [search]", c.Scopes)
	}
	tok := srv.accessToken(t, c, "")
	if res := call(t, "GET", gw.URL+"/api/records/7/search", tok); res.status != 200 {
		t.Errorf("GET /api/records/7/search: got %d %s, want 200", res.status, res.body)
	}
	if res := call(t, "GET", gw.URL+"/api/workers/me", tok); res.status != 403 {
		t.Errorf("GET /api/workers/me: got %d, want 403", res.status)
	}
}
