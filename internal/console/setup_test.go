package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

// otherNode returns a harness for a second server on h's store and clock,
// as another `gatehouse serve` process sharing the database would be: its
// own users service, console and address, and a browser of its own.
func (h *harness) otherNode(co func(*console.Options)) *harness {
	h.t.Helper()
	o := &harness{t: h.t, st: h.st, clk: h.clk}
	o.users = users.New(users.Options{Store: h.st, Now: h.clk.Now, Password: testutil.CheapPassword()})
	mux := http.NewServeMux()
	o.srv = httptest.NewServer(mux)
	h.t.Cleanup(o.srv.Close)
	opts := console.Options{Store: h.st, Users: o.users, Issuer: o.srv.URL, Now: h.clk.Now}
	co(&opts)
	var err error
	if o.con, err = console.New(opts); err != nil {
		h.t.Fatal(err)
	}
	o.con.Register(mux)
	o.hc = o.newClient()
	return o
}

// setupLinkPath returns the path and token of a new setup link of h.
func (h *harness) setupLinkPath() (path, tok string) {
	h.t.Helper()
	link, err := h.con.SetupLink(context.Background())
	if err != nil || !strings.HasPrefix(link, h.srv.URL+"/console/setup?token=") {
		h.t.Fatalf("SetupLink = %q, %v; want %s/console/setup?token=...", link, err, h.srv.URL)
	}
	path = strings.TrimPrefix(link, h.srv.URL)
	return path, strings.TrimPrefix(path, "/console/setup?token=")
}

func wantSetupDone(t *testing.T, what string, r resp) {
	t.Helper()
	if r.code != http.StatusOK || !strings.Contains(r.body, "An administrator already exists") ||
		strings.Contains(r.body, `action="/console/setup"`) {
		t.Errorf("%s: got %d, want 200 saying an administrator exists, without the form:\n%s", what, r.code, r.body)
	}
}

// TestSetupLinkOnAnotherNode: the link one server prints works on another
// server sharing the database, once; afterwards every link is dead on
// every server.
func TestSetupLinkOnAnotherNode(t *testing.T) {
	csrfKey := bytes.Repeat([]byte{7}, 32) // shared, as serve derives it from the master key
	shared := func(o *console.Options) { o.CSRFKey = csrfKey }
	a := newHarnessWith(t, users.Options{}, shared)
	b := a.otherNode(shared)
	pathA, tokA := a.setupLinkPath() // printed by node A
	pathB, _ := b.setupLinkPath()    // node B started without an administrator too

	r := b.get(pathA)
	wantCode(t, "node A's setup link on node B", r, http.StatusOK)
	form := url.Values{"csrf_token": {csrfOf(t, r.body)}, "token": {tokA},
		"username": {"root"}, "password": {pw}, "password2": {pw}}
	wantLocation(t, "setup on node B", b.post("/console/setup", form), "/console/")
	r = b.get("/console/")
	wantCode(t, "node B's home after setup", r, http.StatusOK)
	if !strings.Contains(r.body, "logged in as <strong>root</strong> (admin)") {
		t.Errorf("node B's home page does not show the new admin:\n%s", r.body)
	}

	for _, n := range []struct {
		name string
		h    *harness
	}{{"node A", a}, {"node B", b}} {
		for _, path := range []string{pathA, pathB} {
			n.h.hc = n.h.newClient()
			wantSetupDone(t, n.name+" GET "+path, n.h.get(path))
		}
		page := n.h.get("/console/login")
		form.Set("csrf_token", csrfOf(t, page.body))
		form.Set("username", "root2")
		wantSetupDone(t, n.name+" POST replay", n.h.post("/console/setup", form))
	}
	if us, _ := a.users.List(context.Background()); len(us) != 1 {
		t.Errorf("%d users after replays, want 1", len(us))
	}
}

// TestSetupConcurrentOnTwoNodes: two browsers submit the setup form at the
// same moment on two servers, each with the link its server printed.
// Exactly one creates an administrator; the other is told one exists.
func TestSetupConcurrentOnTwoNodes(t *testing.T) {
	a := newHarness(t, users.Options{})
	b := a.otherNode(func(*console.Options) {})
	var reqs []*http.Request
	var clients []*http.Client
	for i, h := range []*harness{a, b} {
		path, tok := h.setupLinkPath()
		r := h.get(path)
		wantCode(t, "setup page", r, http.StatusOK)
		form := url.Values{"csrf_token": {csrfOf(t, r.body)}, "token": {tok},
			"username": {[]string{"alice", "bob"}[i]}, "password": {pw}, "password2": {pw}}
		req, _ := http.NewRequest("POST", h.srv.URL+"/console/setup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		reqs, clients = append(reqs, req), append(clients, h.hc)
	}
	got := make([]resp, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			r, err := clients[i].Do(reqs[i])
			if err != nil {
				t.Errorf("POST setup #%d: %v", i, err)
				return
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			got[i] = resp{r.StatusCode, r.Header, string(b)}
		})
	}
	wg.Wait()
	var created int
	for i, r := range got {
		if r.code == http.StatusSeeOther {
			created++
			continue
		}
		wantSetupDone(t, []string{"node A", "node B"}[i]+" losing POST", r)
	}
	if created != 1 {
		t.Errorf("%d of 2 concurrent setups succeeded, want 1", created)
	}
	us, err := a.users.List(context.Background())
	if err != nil || len(us) != 1 || us[0].Role != store.RoleAdmin {
		t.Errorf("users after concurrent setups = %+v, %v; want one administrator", us, err)
	}
}
