package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// TestNodeLoss runs two servers on one PostgreSQL schema behind HAProxy,
// health-checked on /readyz, as bench/nodeloss.sh does at a larger scale.
// Token requests and client creations (through the console, the HTTP write
// path) go through the balancer while one node is killed with SIGKILL and
// restarted. Tokens keep being issued during the outage, every request from
// three seconds after the kill on succeeds, no acknowledged creation is
// lost, and after the restart both nodes serve.
func TestNodeLoss(t *testing.T) {
	haproxy := haproxyPath(t)
	dsn := pgtest.DSN(t)
	in := newInstance(t, "GATEHOUSE_DATABASE_URL="+dsn, "GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl")
	in.MustCLI("migrate")
	load := in.CreateClient("--name", "load", "--scopes", "search")
	const password = "nodeloss-password-0123"
	in.MustCLIInput(password+"\n", "users", "create", "--username", "ops", "--display-name", "Ops", "--role", "admin")

	lbAddr, aAddr, bAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	lb := "http://" + lbAddr
	serve := func(addr string) server {
		return server{in.Start([]string{"serve", "--addr", addr, "--issuer", lb}, harness.ListenRE)}
	}
	a, b := serve(aAddr), serve(bAddr)
	hp := startHAProxy(t, haproxy, lbAddr, aAddr, bAddr)
	harness.Within(t, 15*time.Second, "balancer ready", func() bool {
		resp, err := http.Get(lb + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // runs first, also when the test fails early
	var rec recorder
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.tokens(ctx, lb, load.ClientID, load.ClientSecret)
		}()
	}
	w := newConsoleWriter(t, lb, "ops", password)
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.run(ctx)
	}()

	time.Sleep(3 * time.Second)
	ups := hp.lines("tokens/a is UP")
	if err := a.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.Done
	killed := time.Now()
	time.Sleep(7 * time.Second)
	restarted := time.Now()
	a = serve(aAddr)
	for deadline := time.Now().Add(15 * time.Second); hp.lines("tokens/a is UP") <= ups; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("HAProxy did not put the restarted node back within 15 s:\n%s", hp.Logs)
			break
		}
	}
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()

	// Tokens through the balancer.
	settled := killed.Add(3 * time.Second)
	var outageOK, total, failed int
	var early, late []string
	for _, r := range rec.all() {
		total++
		if r.err != "" {
			failed++
		}
		switch {
		case r.start.Before(settled):
			if r.err != "" {
				early = append(early, fmt.Sprintf("%+.2fs after the kill: %s", r.start.Sub(killed).Seconds(), r.err))
			}
		case r.err != "":
			late = append(late, fmt.Sprintf("%+.1fs after the kill: %s", r.start.Sub(killed).Seconds(), r.err))
		case r.start.Before(restarted):
			outageOK++
		}
	}
	t.Logf("token requests: %d, failed: %d (failed from 3 s after the kill: %d); tokens while node a was down (from 3 s after the kill): %d",
		total, failed, len(late), outageOK)
	if len(early) > 0 {
		t.Logf("failed before the balancer settled (allowed):\n%s", strings.Join(early[:min(len(early), 10)], "\n"))
	}
	if len(late) > 0 {
		t.Errorf("%d token requests failed from 3 s after the kill on, e.g.:\n%s", len(late), strings.Join(late[:min(len(late), 10)], "\n"))
	}
	if outageOK == 0 {
		t.Errorf("no token issued through the balancer while node a was down")
	}

	// Every acknowledged creation is stored, and its secret gets a token
	// through the balancer.
	var listed []struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(in.MustCLI("clients", "list", "--output", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, c := range listed {
		stored[c.ClientID] = true
	}
	acked := w.acknowledged()
	var outageWrites int
	for _, c := range acked {
		if !stored[c.id] {
			t.Errorf("acknowledged client %s (created %+.1fs after the kill) is not in the database", c.id, c.at.Sub(killed).Seconds())
		}
		if c.at.After(settled) && c.at.Before(restarted) {
			outageWrites++
		}
		if c.secret == "" {
			t.Logf("client %s (acknowledged %+.1fs after the kill): the page with its secret was not shown", c.id, c.at.Sub(killed).Seconds())
			continue
		}
		if code, body := tokenRequest(http.DefaultClient, lb, c.id, c.secret); code != 200 {
			t.Errorf("client %s: token through the balancer: got %d %s, want 200", c.id, code, body)
		}
	}
	t.Logf("client creations acknowledged: %d (from 3 s after the kill until the restart: %d); not acknowledged: %d",
		len(acked), outageWrites, w.failures())
	if len(acked) == 0 || outageWrites == 0 {
		t.Errorf("got %d acknowledged creations, %d of them while node a was down; want some of each", len(acked), outageWrites)
	}

	// Both nodes serve again, each asked directly.
	for _, s := range []server{a, b} {
		if code, body := tokenRequest(http.DefaultClient, s.URL, load.ClientID, load.ClientSecret); code != 200 {
			t.Errorf("%s after the restart: got %d %s, want 200", s.URL, code, body)
		}
	}
}

// haproxyPath returns $GATEHOUSE_HAPROXY or /usr/sbin/haproxy. Without it
// the test is skipped, except in CI, which must run it.
func haproxyPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GATEHOUSE_HAPROXY")
	if p == "" {
		p = "/usr/sbin/haproxy"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("HAProxy not found at %s (CI must run the node-loss test; apt-get install -y haproxy or set GATEHOUSE_HAPROXY): %v", p, err)
		}
		t.Skipf("HAProxy not found at %s; install it or set GATEHOUSE_HAPROXY: %v", p, err)
	}
	return p
}

// freeAddr returns a loopback address that nothing listened on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// balancer is HAProxy in the foreground; it prints server state changes
// ("Server tokens/a is UP") on stderr, which harness.Start keeps in Logs.
type balancer struct{ *harness.Server }

// lines counts the lines HAProxy has printed that contain s.
func (b balancer) lines(s string) int { return strings.Count(b.Logs.String(), s) }

// startHAProxy runs HAProxy at lbAddr in front of the nodes at aAddr and
// bAddr, with the configuration bench/nodeloss.sh uses: round-robin token
// traffic, health checks on /readyz every 500 ms (fall 2, rise 2), retries
// with redispatch on connection failure, and a console that sticks to one
// node by cookie (its one-time secret page lives in that node's memory).
func startHAProxy(t *testing.T, haproxy, lbAddr, aAddr, bAddr string) balancer {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `global
  maxconn 1024
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 10s
  retries 3
  option redispatch 1
frontend fe
  bind %s
  use_backend console if { path_beg /console/ }
  default_backend tokens
backend tokens
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
  server a %s check
  server b %s check
backend console
  balance roundrobin
  cookie GHNODE insert indirect nocache
  server a %s track tokens/a cookie a
  server b %s track tokens/b cookie b
`, lbAddr, aAddr, bAddr, aAddr, bAddr), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return balancer{harness.Start(t, haproxy, os.Environ(), []string{"-f", cfg, "-db"})}
}

type tokenResult struct {
	start time.Time
	err   string // "" for a 200 with an access token
}

// recorder keeps the outcome of every token request.
type recorder struct {
	mu      sync.Mutex
	results []tokenResult
}

// tokens requests tokens through the balancer until ctx ends, pausing a
// little between requests: a modest load, not a benchmark.
func (rec *recorder) tokens(ctx context.Context, base, id, secret string) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer hc.CloseIdleConnections()
	for ctx.Err() == nil {
		start := time.Now()
		code, body := tokenRequest(hc, base, id, secret)
		r := tokenResult{start: start}
		if code != 200 || !strings.Contains(body, `"access_token"`) {
			r.err = fmt.Sprintf("%d %.120s", code, strings.Join(strings.Fields(body), " "))
		}
		if ctx.Err() != nil && r.err != "" {
			return // cut short by the end of the test
		}
		rec.mu.Lock()
		rec.results = append(rec.results, r)
		rec.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func (rec *recorder) all() []tokenResult {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]tokenResult(nil), rec.results...)
}

// tokenRequest asks base for a client-credentials token and returns the
// status (0 if there was no response) and the body or the error.
func tokenRequest(hc *http.Client, base, id, secret string) (int, string) {
	req, err := http.NewRequest("POST", base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// consoleWriter creates clients through the admin console, as an
// administrator in a browser would: the console is the HTTP write path.
type consoleWriter struct {
	base string
	hc   *http.Client
	csrf string

	mu     sync.Mutex
	acked  []ackedClient
	failed int
}

// ackedClient is a creation the console acknowledged with a redirect to the
// new client's page; secret is what that page showed ("" if it was not seen).
type ackedClient struct {
	id, secret string
	at         time.Time
}

// secretRE finds the secret on the page that shows it once (csrfRE, the
// form's CSRF token, is in setup_test.go).
var secretRE = regexp.MustCompile(`<code id="client-secret">([^<]+)</code>`)

// newConsoleWriter logs in to the console at base.
func newConsoleWriter(t *testing.T, base, username, password string) *consoleWriter {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &consoleWriter{base: base, hc: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	_, page := w.get(t, "/console/login")
	form := url.Values{"csrf_token": {match(t, csrfRE, page)}, "username": {username}, "password": {password}}
	if resp, err := w.hc.PostForm(base+"/console/login", form); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: got %d, want 303", resp.StatusCode)
	}
	_, page = w.get(t, "/console/apps/new")
	w.csrf = match(t, csrfRE, page)
	return w
}

func (w *consoleWriter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := w.hc.Get(w.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func match(t *testing.T, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no match for %s in\n%s", re, page)
	}
	return m[1]
}

// run creates clients one after another until ctx ends.
func (w *consoleWriter) run(ctx context.Context) {
	for n := 1; ctx.Err() == nil; n++ {
		id := fmt.Sprintf("nl-%04d", n)
		c, ok := w.create(id)
		w.mu.Lock()
		if ok {
			w.acked = append(w.acked, c)
		} else {
			w.failed++
		}
		w.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

// create posts the new-app form; the creation is acknowledged by a 303 to
// /console/apps/ID/created?ticket=..., whose page then shows the secret.
func (w *consoleWriter) create(id string) (ackedClient, bool) {
	form := url.Values{
		"csrf_token": {w.csrf}, "name": {"node loss " + id}, "client_id": {id},
		"grant_types": {"client_credentials"}, "scopes": {"search"},
		"token_endpoint_auth_method": {"client_secret_basic"},
	}
	resp, err := w.hc.PostForm(w.base+"/console/apps/new", form)
	if err != nil {
		return ackedClient{}, false
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/apps/"+id+"/created?ticket=") {
		return ackedClient{}, false
	}
	c := ackedClient{id: id, at: time.Now()}
	if resp, err = w.hc.Get(w.base + loc); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := secretRE.FindSubmatch(b); m != nil {
			c.secret = string(m[1])
		}
	}
	return c, true
}

func (w *consoleWriter) acknowledged() []ackedClient {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ackedClient(nil), w.acked...)
}

func (w *consoleWriter) failures() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}
