package browser

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestAppUsage: a token quota set in the app's settings is shown with the
// tokens issued against it, and the app page's usage section shows the
// tokens issued, the calls through serve's gateway per endpoint pattern,
// the denials by reason and the source address; it is screenshotted as
// app-usage.
func TestAppUsage(t *testing.T) {
	in := newInstance(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(up.Close)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("usage:\n  interval: 1s\ngateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &server{Server: in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, setupRE, gatewayRE)}
	srv.setupLink = srv.Matches[1]
	gw := "http://" + srv.Matches[2]
	ctx := newBrowser(t)
	setupAdmin(t, ctx, srv)
	id, secret := createAppInConsole(t, ctx, srv, "Billing sync", false)
	do(t, ctx, "set a token quota of 60 a minute",
		chromedp.Navigate(srv.URL+"/console/apps/"+id),
		chromedp.WaitVisible(chromedp.CSS(`#app-form #quota_per_minute`)),
		chromedp.SendKeys(chromedp.CSS(`#app-form #quota_per_minute`), "60"),
		chromedp.Click(chromedp.CSS(`#app-form #save`)),
		chromedp.WaitVisible(chromedp.CSS(`#quota`)))

	var tok string
	firstToken := time.Now()
	for range 3 {
		code, m := srv.tokenRequest(t, id, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"search"}})
		if code != http.StatusOK {
			t.Fatalf("token: got %d %v", code, m)
		}
		tok, _ = m["access_token"].(string)
	}
	for _, c := range []struct {
		path string
		want int
	}{{"/records/1/search", 200}, {"/records/2/search", 200}, {"/records/3/search", 200}, {"/records/3", 403}} {
		req, _ := http.NewRequest("GET", gw+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Fatalf("GET %s through the gateway: got %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}

	var calls string
	harness.Within(t, stepTimeout, "the app page to show the gateway's calls", func() bool {
		do(t, ctx, "open the app page",
			chromedp.Navigate(srv.URL+"/console/apps/"+id),
			chromedp.WaitVisible(chromedp.CSS(`#usage`)))
		calls, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#usage-calls') || {innerText: ''}).innerText`))
		return strings.Contains(calls, "records/*/search") && strings.Contains(calls, "insufficient_scope")
	})
	if strings.Contains(calls, "/records/1") {
		t.Errorf("the usage section shows a raw path:\n%s", calls)
	}
	// The quota counts the tokens of the current minute, as the nodes last
	// reported them (every second); past a minute boundary the count starts
	// again.
	harness.Within(t, stepTimeout, "the quota line to count the 3 tokens", func() bool {
		do(t, ctx, "open the app page", chromedp.Navigate(srv.URL+"/console/apps/"+id), chromedp.WaitVisible(chromedp.CSS(`#quota`)))
		got := text(t, ctx, "#quota")
		if !time.Now().Truncate(time.Minute).Equal(firstToken.Truncate(time.Minute)) {
			return regexp.MustCompile(`^[0-3] of 60 this minute`).MatchString(got)
		}
		return strings.HasPrefix(got, "3 of 60 this minute")
	})
	if got := text(t, ctx, "#usage-tokens tbody td:nth-child(2)"); got != "3" {
		t.Errorf("tokens today: got %q, want 3", got)
	}
	if got := text(t, ctx, "#usage-addresses tbody td:first-child"); got != "127.0.0.1" {
		t.Errorf("source address: got %q, want 127.0.0.1", got)
	}
	if got := text(t, ctx, "#usage-denials tbody"); !strings.Contains(got, "insufficient_scope") {
		t.Errorf("denials: got %q, want insufficient_scope", got)
	}
	do(t, ctx, "scroll to the usage section", chromedp.ScrollIntoView(chromedp.CSS(`#usage`)))
	shoot(t, ctx, "app-usage")
}
