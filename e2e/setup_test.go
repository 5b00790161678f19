package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) browser {
	jar, _ := cookiejar.New(nil)
	return browser{t, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b browser) do(req *http.Request) (int, http.Header, string) {
	b.t.Helper()
	r, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, r.Header, string(body)
}

func (b browser) get(u string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b browser) post(u string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfField(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// TestPostgresSetupLinkOnAnyNode starts two servers on one PostgreSQL
// schema with no administrator. Each prints a setup link; node A's link,
// opened on node B (as a load balancer may route it), creates the first
// administrator there. Afterwards both links are dead on both nodes.
func TestPostgresSetupLinkOnAnyNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	in := newInstance(t, "GATEHOUSE_DATABASE_URL="+dsn, "GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl")
	serve := []string{"serve", "--addr", "127.0.0.1:0"}
	a := in.Start(serve, harness.ListenRE, harness.SetupLinkRE)
	b := in.Start(serve, harness.ListenRE, harness.SetupLinkRE)
	linkA, linkB := a.Matches[1], b.Matches[1]
	tokA := linkA[strings.LastIndex(linkA, "=")+1:]
	tokB := linkB[strings.LastIndex(linkB, "=")+1:]
	if !strings.HasPrefix(linkA, a.URL+"/console/setup?token=") || tokA == tokB {
		t.Fatalf("setup links: node A printed %q, node B %q; want one each, on their own address", linkA, linkB)
	}

	br := newBrowser(t)
	code, _, page := br.get(b.URL + "/console/setup?token=" + tokA)
	if code != http.StatusOK || !strings.Contains(page, `action="/console/setup"`) {
		t.Fatalf("node A's setup link on node B: got %d, want 200 with the setup form:\n%s", code, page)
	}
	form := url.Values{"csrf_token": {csrfField(t, page)}, "token": {tokA}, "username": {"root"},
		"display_name": {"Ruth Root"}, "password": {"a good long password"}, "password2": {"a good long password"}}
	if code, hdr, page := br.post(b.URL+"/console/setup", form); code != http.StatusSeeOther || hdr.Get("Location") != "/console/" {
		t.Fatalf("setup on node B: got %d Location %q, want 303 /console/:\n%s", code, hdr.Get("Location"), page)
	}
	if code, _, page := br.get(b.URL + "/console/"); code != http.StatusOK || !strings.Contains(page, "logged in as <strong>root</strong> (admin)") {
		t.Errorf("node B's console after setup: got %d:\n%s", code, page)
	}

	for _, node := range []*harness.Server{a, b} {
		for _, tok := range []string{tokA, tokB} {
			code, _, page := newBrowser(t).get(node.URL + "/console/setup?token=" + tok)
			if code != http.StatusOK || !strings.Contains(page, "An administrator already exists") || strings.Contains(page, `action="/console/setup"`) {
				t.Errorf("setup link %s…, opened on %s after setup: got %d, want 200 saying an administrator exists:\n%s", tok[:8], node.URL, code, page)
			}
		}
		// Replaying the form (with a fresh CSRF token) creates nobody.
		other := newBrowser(t)
		_, _, login := other.get(node.URL + "/console/login")
		form.Set("csrf_token", csrfField(t, login))
		form.Set("username", "mallory")
		if code, _, page := other.post(node.URL+"/console/setup", form); code != http.StatusOK || !strings.Contains(page, "An administrator already exists") {
			t.Errorf("setup form replayed on %s: got %d, want 200 saying an administrator exists:\n%s", node.URL, code, page)
		}
	}

	var us []struct{ Username, Role string }
	if err := json.Unmarshal([]byte(in.MustCLI("users", "list", "--output", "json")), &us); err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Username != "root" || us[0].Role != "admin" {
		t.Errorf("users after setup: got %+v, want only the administrator root", us)
	}
}
