package browser

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

// gatewayRE finds the embedded gateway's address in serve's log.
var gatewayRE = regexp.MustCompile(`gateway listening.* addr=http://(127\.0\.0\.1:\d+)`)

// corsScript gets a token from the token endpoint and calls the API
// through the gateway with it, as a browser tool does, from the page the
// tab shows; it reports what the page could read, or the error fetch
// raised (a CORS refusal is a TypeError with no details).
const corsScript = `(async () => {
  const out = {};
  const attempt = async (name, f) => {
    try { out[name] = await f(); } catch (e) { out[name] = {error: String(e)}; }
  };
  await attempt('token', async () => {
    const r = await fetch(ISSUER + '/oauth/token', {method: 'POST',
      headers: {Authorization: 'Basic ' + btoa(CLIENT_ID + ':' + CLIENT_SECRET),
                'Content-Type': 'application/x-www-form-urlencoded'},
      body: 'grant_type=client_credentials'});
    return {status: r.status, body: await r.json()};
  });
  const token = out.token.body ? out.token.body.access_token : FALLBACK_TOKEN;
  await attempt('api', async () => {
    const r = await fetch(GATEWAY + '/api/records/1', {headers: {Authorization: 'Bearer ' + token}});
    return {status: r.status, body: await r.json()};
  });
  await attempt('noToken', async () => {
    const r = await fetch(GATEWAY + '/api/records/1');
    return {status: r.status, challenge: r.headers.get('WWW-Authenticate')};
  });
  await attempt('withCredentials', async () => {
    const r = await fetch(GATEWAY + '/api/records/1', {credentials: 'include', headers: {Authorization: 'Bearer ' + token}});
    return {status: r.status};
  });
  return JSON.stringify(out);
})()`

// fetched is what corsScript reports for one request.
type fetched struct {
	Error     string         `json:"error"`
	Status    int            `json:"status"`
	Body      map[string]any `json:"body"`
	Challenge string         `json:"challenge"`
}

// TestCORSFromPages: real pages in Chromium call the token endpoint and,
// with the token, the API through serve's embedded gateway: from the
// issuer's own origin with no CORS setting, from a configured origin, and
// (refused by the browser, never reaching the API) from another origin.
func TestCORSFromPages(t *testing.T) {
	var upstreamCalls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*") // removed by the gateway
		json.NewEncoder(w).Encode(map[string]string{"record": "1", "client": r.Header.Get("X-Gatehouse-Client-Id")})
	}))
	t.Cleanup(up.Close)
	page := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<!doctype html><title>API tool</title><p>A browser tool on its own origin.</p>"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	tool, stranger := page(), page() // tool's origin is configured, stranger's is not

	in := newInstance(t)
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, []byte("gateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+
		"\n  base_path: /api\ncors:\n  allowed_origins: ["+tool.URL+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, gatewayRE)
	gw := "http://" + srv.Matches[1]
	c := in.CreateClient("--name", "Browser tool", "--scopes", "api:read-only")
	_, tok := (&server{Server: srv}).clientCredentials(t, c.ClientID, c.ClientSecret)
	fallback, _ := tok["access_token"].(string)

	ctx := newBrowser(t)
	run := func(pageURL string) map[string]fetched {
		t.Helper()
		do(t, ctx, "open "+pageURL, chromedp.Navigate(pageURL))
		js := strings.NewReplacer(
			"ISSUER", jsString(srv.URL), "GATEWAY", jsString(gw),
			"CLIENT_ID", jsString(c.ClientID), "CLIENT_SECRET", jsString(c.ClientSecret),
			"FALLBACK_TOKEN", jsString(fallback),
		).Replace(corsScript)
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		res, err := chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("script on %s: %v", pageURL, err)
		}
		var out map[string]fetched
		if err := json.Unmarshal([]byte(res), &out); err != nil {
			t.Fatalf("script on %s: %q: %v", pageURL, res, err)
		}
		return out
	}
	allowed := func(where string, out map[string]fetched) {
		t.Helper()
		if f := out["token"]; f.Status != 200 || f.Body["access_token"] == nil {
			t.Errorf("%s: token endpoint: got %+v, want 200 with an access token", where, f)
		}
		if f := out["api"]; f.Status != 200 || f.Body["client"] != c.ClientID {
			t.Errorf("%s: API with the token: got %+v, want 200 from the upstream for %s", where, f, c.ClientID)
		}
		if f := out["noToken"]; f.Status != 401 || !strings.HasPrefix(f.Challenge, "Bearer ") {
			t.Errorf("%s: API without a token: got %+v, want 401 with its Bearer challenge readable", where, f)
		}
		// Credentials (cookies) are never allowed across origins.
		if f := out["withCredentials"]; !strings.Contains(f.Error, "TypeError") {
			t.Errorf("%s: API with credentials: \"include\": got %+v, want a TypeError (refused by the browser)", where, f)
		}
	}

	// The issuer's origin: no CORS setting is needed for the gateway (the
	// token endpoint is the page's own origin).
	allowed("page on the issuer's origin", run(srv.URL+"/healthz"))
	allowed("page on a configured origin", run(tool.URL+"/"))

	before := upstreamCalls.Load()
	out := run(stranger.URL + "/")
	for _, name := range []string{"token", "api", "noToken"} {
		if f := out[name]; !strings.Contains(f.Error, "TypeError") {
			t.Errorf("page on another origin: %s: got %+v, want a TypeError (refused by the browser)", name, f)
		}
	}
	if n := upstreamCalls.Load() - before; n != 0 {
		t.Errorf("page on another origin: the upstream got %d requests, want 0 (the preflight is refused)", n)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
