// Package browser drives the real gatehouse binary with a real headless
// Chromium: the console and the authorization code flow as a person sees
// them. Run with -screenshots (or GATEHOUSE_SCREENSHOTS=1) to refresh the
// images under docs/screenshots.
package browser

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

var (
	binary      string
	screenshots = flag.Bool("screenshots", false, "write screenshots of the key pages to docs/screenshots")
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(harness.Main(m, &binary))
}

// testTimeout bounds each browser test.
const testTimeout = 60 * time.Second

// stepTimeout bounds one group of browser steps, leaving time to report
// the page it got stuck on.
const stepTimeout = 20 * time.Second

// chromium returns the browser to run: $GATEHOUSE_CHROMIUM or
// /usr/bin/chromium. Without one the test is skipped, except in CI, which
// must run these tests.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GATEHOUSE_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium not found at %s (CI must run the browser tests; install Debian's chromium or set GATEHOUSE_CHROMIUM): %v", p, err)
		}
		t.Skipf("Chromium not found at %s; install it or set GATEHOUSE_CHROMIUM: %v", p, err)
	}
	return p
}

// newBrowser starts a headless Chromium with its own profile and returns a
// tab context that ends after testTimeout.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc(); cancel() })
	// Start the browser now, so that a broken installation fails here.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return bctx
}

// do runs browser steps and fails the test with what went wrong.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		t.Fatalf("%s: %v\npage %s:\n%s", what, err, loc, body)
	}
}

// text returns the visible text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// location returns the tab's current URL.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// shoot saves a full-page PNG as docs/screenshots/NAME.png when screenshots
// are asked for.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*screenshots && os.Getenv("GATEHOUSE_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// instance is one data directory used by the server and the CLI.
type instance struct{ *harness.Instance }

func newInstance(t *testing.T) instance {
	t.Helper()
	return instance{harness.NewInstance(t, binary)}
}

// cli runs a gatehouse command with stdin and returns its stdout, failing
// the test on a non-zero exit.
func (in instance) cli(stdin string, args ...string) string {
	in.T.Helper()
	return in.MustCLIInput(stdin, args...)
}

// createUser creates a user with the CLI, the password on standard input.
func (in instance) createUser(username, displayName, role, password string) {
	in.T.Helper()
	in.cli(password+"\n", "users", "create", "--username", username, "--display-name", displayName, "--role", role)
}

type createdClient = harness.CreatedClient

// server is a running `gatehouse serve`.
type server struct {
	*harness.Server
	setupLink string // "" once an administrator exists
}

var setupRE = regexp.MustCompile(`^\s+(http://\S+/console/setup\?token=\S+)\s*$`)

// serve starts `gatehouse serve` on a free port and waits until it listens
// and, when no administrator exists, until it has printed the setup link.
func (in instance) serve(wantSetup bool) *server {
	in.T.Helper()
	patterns := []*regexp.Regexp{harness.ListenRE}
	if wantSetup {
		patterns = append(patterns, setupRE)
	}
	s := &server{Server: in.Start([]string{"serve", "--addr", "127.0.0.1:0"}, patterns...)}
	if wantSetup {
		s.setupLink = s.Matches[1]
	}
	return s
}

// tokenRequest posts a form to the token endpoint with HTTP Basic client
// authentication and returns the status and JSON body.
func (s *server) tokenRequest(t *testing.T, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", s.URL+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	return harness.DoJSON(t, req)
}

// clientCredentials asks for a token with the client credentials grant.
func (s *server) clientCredentials(t *testing.T, clientID, secret string) (int, map[string]any) {
	t.Helper()
	return s.tokenRequest(t, clientID, secret, url.Values{"grant_type": {"client_credentials"}})
}
