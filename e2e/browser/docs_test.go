package browser

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

// recordsAPI is the protected API's OpenAPI document: reading a record
// needs records:read, creating one records:write. Its token URL is
// another server's: /docs points the Authorize dialog at Gatehouse.
const recordsAPI = `openapi: 3.0.3
info:
  title: Records API
  version: "1.0"
servers:
  - url: https://records.example.com/api
paths:
  /records/{id}:
    get:
      operationId: getRecord
      summary: Read a record
      security: [{gatehouse: [records:read]}]
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: the record}
  /records:
    post:
      operationId: createRecord
      summary: Create a record
      security: [{gatehouse: [records:write]}]
      responses:
        "201": {description: created}
components:
  securitySchemes:
    gatehouse:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: https://login.records.example.com/token
          scopes:
            records:read: Read records
            records:write: Create and change records
`

// TestAPIReference: the API reference (/docs) in Chromium, opened with a
// client ID as the created page links to it: Authorize with client
// credentials (the secret typed in), then "Try it": a call the client's
// scope allows reaches the upstream through the gateway (200), one it
// does not is refused by the gateway (403), both shown on the page.
func TestAPIReference(t *testing.T) {
	var upstreamCalls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "client": r.Header.Get("X-Gatehouse-Client-Id")})
	}))
	t.Cleanup(up.Close)

	in := newInstance(t)
	doc := filepath.Join(in.DataDir, "records.yaml")
	cfg := filepath.Join(in.DataDir, "gatehouse.yaml")
	if err := os.WriteFile(doc, []byte(recordsAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("api:\n  openapi: "+doc+"\ngateway:\n  enabled: true\n  addr: 127.0.0.1:0\n  upstream: "+up.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--config", cfg}, harness.ListenRE, gatewayRE)
	gw := "http://" + srv.Matches[1]
	c := in.CreateClient("--config", cfg, "--name", "Records reader", "--scopes", "records:read")

	ctx := newBrowser(t)
	do(t, ctx, "open the API reference",
		chromedp.Navigate(srv.URL+"/docs?client_id="+c.ClientID),
		chromedp.WaitVisible(chromedp.CSS(`#operations-default-getRecord`)),
		chromedp.WaitVisible(chromedp.CSS(`.auth-wrapper .authorize`)))
	if got := text(t, ctx, `.servers`); !strings.Contains(got, gw+"/api") {
		t.Errorf("servers: got %q, want the gateway %s/api", got, gw)
	}
	shoot(t, ctx, "api-reference")

	do(t, ctx, "open the Authorize dialog",
		chromedp.Click(chromedp.CSS(`.auth-wrapper .authorize`)),
		chromedp.WaitVisible(chromedp.CSS(`.modal-ux input[id^="client_id"]`)))
	clientID, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`.modal-ux input[id^="client_id"]`)))
	if err != nil || clientID != c.ClientID {
		t.Errorf("client ID in the Authorize dialog: got %q (err %v), want %q, filled in from the link", clientID, err, c.ClientID)
	}
	if got := text(t, ctx, `.modal-ux`); !strings.Contains(got, srv.URL+"/oauth/token") {
		t.Errorf("Authorize dialog: got %q, want Gatehouse's token URL %s/oauth/token", got, srv.URL)
	}
	do(t, ctx, "type the secret",
		chromedp.SendKeys(chromedp.CSS(`.modal-ux input[id^="client_secret"]`), c.ClientSecret))
	shoot(t, ctx, "api-reference-authorize")
	do(t, ctx, "authorize with client credentials",
		chromedp.Click(chromedp.CSS(`.modal-ux button.authorize`)),
		// Authorized: the dialog offers to log out.
		chromedp.WaitVisible(chromedp.CSS(`.modal-ux button[aria-label="Remove authorization"]`)),
		chromedp.Click(chromedp.CSS(`.modal-ux .btn-done`)),
		chromedp.WaitNotPresent(chromedp.CSS(`.modal-ux`)))

	// tryIt expands an operation, fills in its path parameter (if any),
	// executes it and returns the status the page shows.
	tryIt := func(op, id string) string {
		t.Helper()
		sel := `#operations-default-` + op
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(sel + ` .opblock-summary-control`)),
			chromedp.WaitVisible(chromedp.CSS(sel + ` .try-out__btn`)),
			chromedp.Click(chromedp.CSS(sel + ` .try-out__btn`)),
			chromedp.WaitVisible(chromedp.CSS(sel + ` .execute`)),
		}
		if id != "" {
			steps = append(steps, chromedp.SendKeys(chromedp.CSS(sel+` input[placeholder="id"]`), id))
		}
		steps = append(steps,
			chromedp.Click(chromedp.CSS(sel+` .execute`)),
			chromedp.WaitVisible(chromedp.CSS(sel+` .live-responses-table tbody .response-col_status`)))
		do(t, ctx, "try "+op, steps...)
		// The cell says "Undocumented" under a status the document does
		// not list.
		status, _, _ := strings.Cut(text(t, ctx, sel+` .live-responses-table tbody .response-col_status`), "\n")
		return status
	}
	if got := tryIt("getRecord", "42"); got != "200" {
		t.Errorf("GET /records/42 through the gateway: the page shows status %q, want 200", got)
	}
	if got := text(t, ctx, `#operations-default-getRecord .live-responses-table tbody .response-col_description`); !strings.Contains(got, `"client": "`+c.ClientID+`"`) || !strings.Contains(got, `"/api/records/42"`) {
		t.Errorf("GET /records/42: the page shows %q, want the upstream's answer for %s", got, c.ClientID)
	}
	if got := text(t, ctx, `#operations-default-getRecord .request-url`); !strings.Contains(got, gw+"/api/records/42") {
		t.Errorf("request URL: got %q, want the gateway's %s/api/records/42", got, gw)
	}
	before := upstreamCalls.Load()
	if got := tryIt("createRecord", ""); got != "403" {
		t.Errorf("POST /records (needs records:write): the page shows status %q, want 403", got)
	}
	if got := text(t, ctx, `#operations-default-createRecord .live-responses-table`); !strings.Contains(got, "insufficient_scope") {
		t.Errorf("POST /records: the page shows %q, want the gateway's insufficient_scope", got)
	}
	if n := upstreamCalls.Load() - before; n != 0 {
		t.Errorf("POST /records: the upstream got %d requests, want 0", n)
	}
}
