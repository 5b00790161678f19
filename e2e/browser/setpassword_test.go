package browser

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestSetPasswordLink: a program creates a user without a password over
// the admin API and sends them the link; they open it, choose a password
// once, and log in with it.
func TestSetPasswordLink(t *testing.T) {
	in := newInstance(t)
	in.createUser("ada", "Ada Admin", "admin", adminPassword)
	prov := in.CreateClient("--name", "Provisioning", "--scopes", "gatehouse:admin")
	srv := in.serve(false)

	status, m := srv.tokenRequest(t, prov.ClientID, prov.ClientSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"gatehouse:admin"}})
	tok, _ := m["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("admin token: got %d %v", status, m)
	}
	req, err := http.NewRequest("POST", srv.URL+"/admin/v1/users", strings.NewReader(`{"username": "nia", "display_name": "Nia New"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	status, u := harness.DoJSON(t, req)
	link, _ := u["set_password_url"].(string)
	page := srv.URL + "/console/set-password"
	if status != http.StatusCreated || !strings.HasPrefix(link, page+"#") {
		t.Fatalf("POST /admin/v1/users: got %d %v, want 201 with a set_password_url on %s#", status, u, page)
	}
	code := strings.TrimPrefix(link, page+"#")

	ctx := newBrowser(t)
	do(t, ctx, "open the set-password link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/set-password"] #password2`)))
	// The page took the code from the fragment and out of the address bar.
	if got := location(t, ctx); got != page {
		t.Errorf("address after opening the link: got %q, want %q (the code removed)", got, page)
	}
	if got := valueOrText(t, ctx, "#token"); got != code {
		t.Errorf("the form's code: got %q, want the link's", got)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('token-field').hidden`)); err != nil || !hidden {
		t.Errorf("the code field is shown (hidden %v, err %v), want it hidden when the link filled it", hidden, err)
	}
	const chosen = "nia's very own password"
	do(t, ctx, "choose a password",
		chromedp.SendKeys(chromedp.CSS(`#password`), chosen),
		chromedp.SendKeys(chromedp.CSS(`#password2`), chosen))
	shoot(t, ctx, "set-password")
	do(t, ctx, "submit",
		chromedp.Click(chromedp.CSS(`form[action="/console/set-password"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#password-set`)))
	if got := text(t, ctx, "#password-set"); !strings.Contains(got, "Log in as nia") {
		t.Errorf("after setting the password: got %q, want it to name nia", got)
	}

	do(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	logIn(t, ctx, "nia", chosen)
	if got, want := text(t, ctx, "main h1"), "Welcome, Nia New"; got != want {
		t.Errorf("home page after login: got %q, want %q", got, want)
	}

	// The link works once.
	do(t, ctx, "open the link again",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#password2`)),
		chromedp.SendKeys(chromedp.CSS(`#password`), "somebody else's password"),
		chromedp.SendKeys(chromedp.CSS(`#password2`), "somebody else's password"),
		chromedp.Click(chromedp.CSS(`form[action="/console/set-password"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#link-invalid`)))

	if strings.Contains(srv.Logs.String(), code) {
		t.Errorf("the server log contains the set-password code")
	}
}
