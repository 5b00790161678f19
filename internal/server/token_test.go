package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/clients"
)

func TestTokenClientCredentials(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"api:read-only", "search"}, TokenTTL: 12 * time.Hour})

	for _, tc := range []struct {
		name string
		path string
		body string
		hdr  map[string]string
	}{
		{"basic", PathToken, "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret)}},
		{"post", PathToken, "grant_type=client_credentials&client_id=" + id + "&client_secret=" + url.QueryEscape(secret), nil},
		{"basic with matching client_id in body", PathToken, "grant_type=client_credentials&client_id=" + id, map[string]string{"Authorization": basic(id, secret)}},
		{"alias path", "/oauth/v2/token", "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret)}},
		{"charset in content type", PathToken, "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret), "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(tc.path, tc.body, tc.hdr)
			if r.status != 200 {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			if r.json["token_type"] != "Bearer" || r.json["expires_in"] != float64(12*3600) || r.json["scope"] != "api:read-only search" {
				t.Errorf("got response %s, want Bearer, 43200 s, scope %q", r.body, "api:read-only search")
			}
			if _, ok := r.json["refresh_token"]; ok {
				t.Errorf("got a refresh token for client credentials: %s", r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", r.header.Get("Cache-Control"))
			}
			c := claims(t, r.json["access_token"].(string))
			now := h.clock.Now().Unix()
			for k, want := range map[string]any{
				"iss": "http://issuer.test", "sub": id, "client_id": id, "aud": "https://api.test",
				"scope": "api:read-only search", "iat": float64(now), "nbf": float64(now), "exp": float64(now + 12*3600),
			} {
				if c[k] != want {
					t.Errorf("claim %s: got %v, want %v", k, c[k], want)
				}
			}
			if jti, _ := c["jti"].(string); len(jti) < 16 {
				t.Errorf("jti: got %q, want a random ID", jti)
			}
			if _, ok := c["account_id"]; ok {
				t.Errorf("account_id present without an account scope")
			}
		})
	}
}

func TestTokenScopes(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"api:read-only", "search"}, Accounts: []string{"acme", "globex"}, Audience: "https://billing.test"})
	oneID, oneSecret := h.client(clients.Spec{Scopes: []string{"search"}, Accounts: []string{"acme"}})
	anyID, anySecret := h.client(clients.Spec{Scopes: []string{"api"}, Accounts: []string{"*"}})
	platID, platSecret := h.client(clients.Spec{Scopes: []string{"api:read-only"}})
	noneID, noneSecret := h.client(clients.Spec{Scopes: []string{}})
	namedID, namedSecret := h.client(clients.Spec{}) // the catalog's default scopes

	const several = "this client acts for several accounts: restrict the token to one with the scope account:<id>, e.g. scope=account:acme"
	for _, tc := range []struct {
		name, id, secret, scope string
		wantScope, wantAccount  string
		wantErr, wantDesc       string
	}{
		// A client limited to several accounts: always restricted, to the one it names.
		{"several: narrowed", id, secret, "search account:acme", "search account:acme", "acme", "", ""},
		{"several: duplicates collapse", id, secret, "search search account:acme", "search account:acme", "acme", "", ""},
		{"several: account", id, secret, "api:read-only account:acme", "api:read-only account:acme", "acme", "", ""},
		{"several: account only means every scope", id, secret, "account:globex", "api:read-only search account:globex", "globex", "", ""},
		{"several: no account named", id, secret, "search", "", "", "invalid_scope", several},
		{"several: no scope named", id, secret, "", "", "", "invalid_scope", several},
		// A client limited to one account: restricted to it without asking.
		{"one: no scope named", oneID, oneSecret, "", "search account:acme", "acme", "", ""},
		{"one: scope named", oneID, oneSecret, "search", "search account:acme", "acme", "", ""},
		{"one: account only", oneID, oneSecret, "account:acme", "search account:acme", "acme", "", ""},
		{"one: other account", oneID, oneSecret, "account:globex", "", "", "invalid_scope", `this client may not act for account "globex"`},
		// Any account, and platform-level clients: unrestricted unless asked.
		{"any account: unrestricted", anyID, anySecret, "", "api", "", "", ""},
		{"any account", anyID, anySecret, "api account:whatever-1", "api account:whatever-1", "whatever-1", "", ""},
		{"any account: account only", anyID, anySecret, "account:whatever-1", "api account:whatever-1", "whatever-1", "", ""},
		{"platform: unrestricted", platID, platSecret, "", "api:read-only", "", "", ""},
		{"platform: no accounts", platID, platSecret, "account:acme", "", "", "invalid_scope", `this client may not act for account "acme"`},
		// Errors.
		{"not allowed", id, secret, "api account:acme", "", "", "invalid_scope", `scope "api" is not allowed for this client`},
		{"unknown", id, secret, "search nope", "", "", "invalid_scope", `unknown scope "nope"`},
		{"other account", id, secret, "account:initech", "", "", "invalid_scope", ""},
		{"two accounts", id, secret, "account:acme account:globex", "", "", "invalid_scope", ""},
		{"empty account", id, secret, "account:", "", "", "invalid_scope", ""},
		{"bad characters", id, secret, `sea"rch`, "", "", "invalid_scope", ""},
		// Never an empty token.
		{"client with no scopes", noneID, noneSecret, "", "", "", "invalid_scope", "this client is allowed no scopes"},
		{"client with no scopes asks for one", noneID, noneSecret, "search", "", "", "invalid_scope", ""},
		// A client created with nothing but a name: the default scopes.
		{"named only", namedID, namedSecret, "", "api", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.scope != "" {
				extra = "scope=" + url.QueryEscape(tc.scope)
			}
			r := h.token(tc.id, tc.secret, extra)
			if tc.wantErr != "" {
				wantError(t, r, 400, tc.wantErr)
				if got := r.json["error_description"]; tc.wantDesc != "" && got != tc.wantDesc {
					t.Errorf("error_description: got %q, want %q", got, tc.wantDesc)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			gotScope, _ := r.json["scope"].(string)
			if gotScope != tc.wantScope {
				t.Errorf("scope: got %q, want %q", gotScope, tc.wantScope)
			}
			c := claims(t, r.json["access_token"].(string))
			gotAcct, _ := c["account_id"].(string)
			if gotAcct != tc.wantAccount {
				t.Errorf("account_id: got %q, want %q", gotAcct, tc.wantAccount)
			}
			if c["scope"] != tc.wantScope {
				t.Errorf("scope claim: got %v, want %q", c["scope"], tc.wantScope)
			}
			if tc.id == id && c["aud"] != "https://billing.test" {
				t.Errorf("aud: got %v, want the client's audience", c["aud"])
			}
		})
	}
}

func TestTokenBadRequests(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"search"}})
	auth := map[string]string{"Authorization": basic(id, secret)}
	big := "grant_type=client_credentials&x=" + strings.Repeat("a", 70<<10)

	for _, tc := range []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"wrong content type", "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret), "Content-Type": "application/json"}, 400, "invalid_request"},
		{"no content type", "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret), "Content-Type": ""}, 400, "invalid_request"},
		{"repeated parameter", "grant_type=client_credentials&scope=search&scope=search", auth, 400, "invalid_request"},
		{"repeated grant_type", "grant_type=client_credentials&grant_type=client_credentials", auth, 400, "invalid_request"},
		{"body over 64 KiB", big, auth, 400, "invalid_request"},
		{"bad percent-encoding", "grant_type=client_credentials&scope=%zz", auth, 400, "invalid_request"},
		{"non-UTF-8", "grant_type=client_credentials&scope=%ff%fe", auth, 400, "invalid_request"},
		{"missing grant_type", "scope=search", auth, 400, "invalid_request"},
		{"unsupported grant_type", "grant_type=password&username=a&password=b", auth, 400, "unsupported_grant_type"},
		{"grant not allowed for client", "grant_type=authorization_code&code=x", auth, 400, "unsupported_grant_type"},
		{"malformed basic: not base64", "grant_type=client_credentials", map[string]string{"Authorization": "Basic !!!"}, 400, "invalid_request"},
		{"malformed basic: no colon", "grant_type=client_credentials", map[string]string{"Authorization": "Basic " + "Zm9v"}, 400, "invalid_request"},
		{"both auth methods", "grant_type=client_credentials&client_id=" + id + "&client_secret=" + url.QueryEscape(secret), auth, 400, "invalid_request"},
		{"client_id mismatch", "grant_type=client_credentials&client_id=someone-else", auth, 400, "invalid_request"},
		{"no authentication", "grant_type=client_credentials", nil, 401, "invalid_client"},
		{"wrong secret", "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret+"x")}, 401, "invalid_client"},
		{"unknown client", "grant_type=client_credentials", map[string]string{"Authorization": basic("nobody", secret)}, 401, "invalid_client"},
		{"post with empty secret", "grant_type=client_credentials&client_id=" + id, nil, 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(PathToken, tc.body, tc.hdr)
			wantError(t, r, tc.status, tc.code)
			if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate: got %q, want a Basic challenge", r.header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("unknown client and wrong secret look the same", func(t *testing.T) {
		a := h.post(PathToken, "grant_type=client_credentials", map[string]string{"Authorization": basic(id, "wrong-secret")})
		b := h.post(PathToken, "grant_type=client_credentials", map[string]string{"Authorization": basic("nobody-here", "wrong-secret")})
		if a.status != b.status || a.body != b.body {
			t.Errorf("got %d %s and %d %s, want identical responses", a.status, a.body, b.status, b.body)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			req, _ := http.NewRequest(m, h.http.URL+PathToken, nil)
			r := h.do(req)
			wantError(t, r, 405, "invalid_request")
			if r.header.Get("Allow") != "POST" {
				t.Errorf("%s: Allow: got %q, want POST", m, r.header.Get("Allow"))
			}
		}
	})

	t.Run("secret in URL", func(t *testing.T) {
		r := h.post(PathToken+"?client_secret="+url.QueryEscape(secret), "grant_type=client_credentials&client_id="+id, nil)
		wantError(t, r, 400, "invalid_request")
	})
}

// TestTwoAuthorizationHeaders: a request with two Authorization headers is
// refused at every client-authenticated endpoint, whichever comes first.
func TestTwoAuthorizationHeaders(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	other, otherSecret := h.client(clients.Spec{Name: "other"})
	tok := h.token(id, secret, "").json["access_token"].(string)
	bodies := map[string]string{
		PathToken:      "grant_type=client_credentials",
		PathIntrospect: "token=" + url.QueryEscape(tok),
		PathRevoke:     "token=" + url.QueryEscape(tok),
	}
	for _, path := range []string{PathToken, PathIntrospect, PathRevoke} {
		for _, tc := range []struct {
			name          string
			first, second string
		}{
			{"right then wrong", basic(id, secret), basic(id, "wrong")},
			{"wrong then right", basic(id, "wrong"), basic(id, secret)},
			{"two clients", basic(id, secret), basic(other, otherSecret)},
			{"same twice", basic(id, secret), basic(id, secret)},
			{"basic and bearer", basic(id, secret), "Bearer " + tok},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", h.http.URL+path, strings.NewReader(bodies[path]))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Add("Authorization", tc.first)
				req.Header.Add("Authorization", tc.second)
				r := h.do(req)
				wantError(t, r, http.StatusBadRequest, "invalid_request")
				if !strings.Contains(r.json["error_description"].(string), "Authorization headers") {
					t.Errorf("error_description: got %q, want it to name the repeated header", r.json["error_description"])
				}
			})
		}
	}
}

func TestTokenClientLifecycle(t *testing.T) {
	h := newHarness(t)
	h.run()
	ctx := context.Background()
	id, secret := h.client(clients.Spec{ID: "lifecycle-app", Scopes: []string{"search"}})
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatalf("before changes: got %d %s", r.status, r.body)
	}

	// Rotation with a grace period: both secrets work, then only the new one.
	_, newSecret, err := h.svc.RotateSecret(ctx, "test", id, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return h.token(id, newSecret, "").status == 200 })
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatalf("old secret during grace: got %d %s, want 200", r.status, r.body)
	}
	h.clock.Add(time.Hour + time.Second)
	wantError(t, h.token(id, secret, ""), 401, "invalid_client")
	if r := h.token(id, newSecret, ""); r.status != 200 {
		t.Fatalf("new secret after grace: got %d %s", r.status, r.body)
	}

	// Disable, enable, delete: seen through the change feed.
	yes, no := true, false
	if _, err := h.svc.Update(ctx, "test", id, clients.Patch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return h.token(id, newSecret, "").status == 401 })
	if _, err := h.svc.Update(ctx, "test", id, clients.Patch{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return h.token(id, newSecret, "").status == 200 })
	if err := h.svc.Delete(ctx, "test", id); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return h.token(id, newSecret, "").status == 401 })

	// A client created after a failed lookup (negative cache) works.
	if r := h.token("late-app", "x", ""); r.status != 401 {
		t.Fatalf("unknown client: got %d", r.status)
	}
	lid, lsecret := h.client(clients.Spec{ID: "late-app"})
	eventually(t, func() bool { return h.token(lid, lsecret, "").status == 200 })
}

// eventually polls cond for up to 2 s: the cross-process staleness bound.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTokenGoOAuth2Library(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{Scopes: []string{"api:read-only", "search"}})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		t.Run(strconv.Itoa(int(style)), func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.http.URL + PathToken,
				Scopes: []string{"search"}, AuthStyle: style}
			tok, err := cfg.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || tok.Extra("scope") != "search" || time.Until(tok.Expiry) < 59*time.Minute {
				t.Errorf("got type %q scope %v expiry %v, want Bearer, search, ~1h", tok.TokenType, tok.Extra("scope"), tok.Expiry)
			}
			bad := cfg
			bad.ClientSecret = "wrong"
			_, err = bad.Token(context.Background())
			var re *oauth2.RetrieveError
			if err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_client" {
				t.Errorf("wrong secret: got %v, want invalid_client", err)
			}
		})
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

func TestTokenRateLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 5, -1, 5
	}})
	id, secret := h.client(clients.Spec{})
	// Failures against one client ID exhaust the per-client allowance...
	var last response
	for i := 0; i < 6; i++ {
		last = h.token(id, "wrong-secret-"+strconv.Itoa(i), "")
	}
	wantError(t, last, 429, "invalid_request")
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After: got %q, want a positive number of seconds", last.header.Get("Retry-After"))
	}
	// ...after which not even the right secret is checked from an address
	// where the client has not succeeded before (see
	// TestRateLimitRemembersSuccess for one where it has).
	wantError(t, h.token(id, secret, ""), 429, "invalid_request")
	// Another client is unaffected.
	id2, secret2 := h.client(clients.Spec{})
	if r := h.token(id2, secret2, ""); r.status != 200 {
		t.Errorf("another client: got %d %s, want 200", r.status, r.body)
	}

	// An address over its allowance is refused before any check.
	h2 := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 1000, 3, 3
	}})
	id3, secret3 := h2.client(clients.Spec{})
	for i := 0; i < 4; i++ {
		last = h2.token("guess-"+strconv.Itoa(i), "nope", "")
	}
	wantError(t, last, 429, "invalid_request")
	wantError(t, h2.token(id3, secret3, ""), 429, "invalid_request")
}

// TestRateLimitRemembersSuccess: an attacker guessing one client's secret
// from many addresses, and other client IDs from the address a legitimate
// client shares with them (a NAT), is refused without the secret being
// checked once over the limits; the client, which authenticated from that
// address before, is never refused.
func TestRateLimitRemembersSuccess(t *testing.T) {
	cip, err := clientip.New([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 5, 10, 3
		o.ClientIP = cip
	}})
	victim, victimSecret := h.client(clients.Spec{})
	neighbour, neighbourSecret := h.client(clients.Spec{Name: "neighbour"})
	from := func(addr, id, secret string) response {
		return h.post(PathToken, "grant_type=client_credentials", map[string]string{
			"Authorization": basic(id, secret), "X-Forwarded-For": addr})
	}
	const nat = "198.51.100.7"
	if r := from(nat, victim, victimSecret); r.status != 200 {
		t.Fatalf("first request: got %d %s, want 200", r.status, r.body)
	}

	refused := 0
	for i := 0; i < 103; i++ {
		// The attacker guesses the victim's secret from ever new addresses,
		// and other client IDs from the victim's address...
		from("192.0.2."+strconv.Itoa(i), victim, "guess-"+strconv.Itoa(i))
		from(nat, "guess-"+strconv.Itoa(i), "nope")
		// ...while the victim keeps working from there.
		if r := from(nat, victim, victimSecret); r.status != 200 {
			refused++
		}
	}
	if refused > 0 {
		t.Errorf("the client that succeeded before was refused %d of 103 times, want 0", refused)
	}

	// The attacker is over the limits: refused before any check, so not
	// even a right secret is looked at, from an address where that client
	// has not succeeded.
	for _, tc := range []struct{ name, addr, id, secret string }{
		{"attacker", "192.0.2.200", victim, "one-more-guess"},
		{"right secret of the attacked ID from elsewhere", "203.0.113.9", victim, victimSecret},
		{"right secret of another client at the attacked address", nat, neighbour, neighbourSecret},
	} {
		r := from(tc.addr, tc.id, tc.secret)
		if r.status != http.StatusTooManyRequests || r.json["error"] != "invalid_request" {
			t.Errorf("%s: got %d %s, want 429 invalid_request", tc.name, r.status, r.body)
		}
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("%s: Retry-After: got %q, want a positive number of seconds", tc.name, r.header.Get("Retry-After"))
		}
	}
	// Only the guesses within the two bursts were checked.
	req, _ := http.NewRequest("GET", h.http.URL+"/metrics", nil)
	m := h.do(req).body
	checked := 0
	for _, reason := range []string{"bad_secret", "unknown_client"} {
		re := regexp.MustCompile(`gatehouse_client_auth_failures_total\{reason="` + reason + `"\} (\d+)`)
		if mm := re.FindStringSubmatch(m); mm != nil {
			n, _ := strconv.Atoi(mm[1])
			checked += n
		}
	}
	if checked > 6 {
		t.Errorf("%d of 207 guesses were checked, want at most 6 (the burst of the client ID and of the address)", checked)
	}
	// Another client elsewhere is unaffected.
	if r := from("203.0.113.10", neighbour, neighbourSecret); r.status != 200 {
		t.Errorf("another client at another address: got %d %s, want 200", r.status, r.body)
	}
}

func TestUsageRecorded(t *testing.T) {
	h := newHarness(t)
	id, secret := h.client(clients.Spec{})
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	c, _ := h.svc.Get(context.Background(), id)
	if !c.Secrets[0].LastUsedAt.IsZero() {
		t.Fatalf("last use written on the request path")
	}
	h.srv.flushUsage(context.Background())
	c, _ = h.svc.Get(context.Background(), id)
	if got := c.Secrets[0].LastUsedAt; !got.Equal(h.clock.Now()) {
		t.Errorf("last used: got %v, want %v", got, h.clock.Now())
	}
	// A second use within a minute is not recorded again.
	h.clock.Add(30 * time.Second)
	h.token(id, secret, "")
	if p, _, _ := h.srv.usage.take(); len(p) != 0 {
		t.Errorf("got %d pending usage records within a minute, want 0", len(p))
	}
	h.clock.Add(31 * time.Second)
	h.token(id, secret, "")
	if p, _, _ := h.srv.usage.take(); len(p) != 1 {
		t.Errorf("got %d pending usage records after a minute, want 1", len(p))
	}
}

// TestFeedAppliesEachChangeOnce: re-reading the overlap window of the change
// feed must not keep dropping cached clients (it did, and halved throughput
// right after many clients were created).
func TestFeedAppliesEachChangeOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id, secret := h.client(clients.Spec{})
	var f feed
	h.srv.follow(ctx, &f) // applies the creation
	if r := h.token(id, secret, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	cached := func() *cachedClient {
		cc, _ := h.srv.clients.peek(id)
		return cc
	}
	before := cached()
	if before == nil {
		t.Fatal("client not cached after a token request")
	}
	for i := 0; i < 3; i++ {
		h.srv.follow(ctx, &f)
	}
	if cached() != before {
		t.Fatal("re-reading the feed dropped an unchanged client from the cache")
	}
	// Once the window has been quiet, polling moves past it.
	h.clock.Add(feedOverlap + time.Second)
	h.srv.follow(ctx, &f)
	if !f.since.After(f.latest) || len(f.seen) != 0 {
		t.Errorf("after a quiet window: since %v, latest %v, %d seen; want since past latest and nothing kept", f.since, f.latest, len(f.seen))
	}
	// A later change is still applied.
	name := "renamed"
	if _, err := h.svc.Update(ctx, "t", id, clients.Patch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	h.srv.follow(ctx, &f)
	if cached() != nil {
		t.Error("an update after the quiet window did not invalidate the cached client")
	}
}

// TestRateLimitBehindProxy: behind a trusted proxy every request arrives
// from the proxy's address; failures must count against the client named in
// X-Forwarded-For, so one client's failures do not lock out the others.
func TestRateLimitBehindProxy(t *testing.T) {
	cip, err := clientip.New([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = -1, 3, 3
		o.ClientIP = cip
	}})
	id, secret := h.client(clients.Spec{})
	from := func(addr, secret string) response {
		return h.post(PathToken, "grant_type=client_credentials", map[string]string{
			"Authorization": basic(id, secret), "X-Forwarded-For": addr})
	}
	var last response
	for i := 0; i < 4; i++ {
		last = from("198.51.100.7", "wrong")
	}
	wantError(t, last, 429, "invalid_request")
	if r := from("203.0.113.9", secret); r.status != 200 {
		t.Errorf("another client behind the same proxy: got %d %s, want 200", r.status, r.body)
	}
	// A client cannot escape its limit by forging the left part of the header.
	wantError(t, from("203.0.113.50, 198.51.100.7", "wrong"), 429, "invalid_request")
}

// TestBasicRawAndEncoded: a secret with '+', '%', '/' and '=' works in
// HTTP Basic both raw (curl -u, Postman) and form-urlencoded (RFC 6749
// §2.3.1), and so does an encoded client ID; a wrong secret in either form
// counts as one failure for the rate limiter.
func TestBasicRawAndEncoded(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 3, -1, 3
	}})
	const sec = "p+q/r=s%2Fx%zz+0123456789abcdefghijklmnopqrstuv=="
	id, _ := h.client(clients.Spec{ID: "raw.client", Secret: sec})
	rawBasic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	for _, tc := range []struct {
		name, authz string
		status      int
	}{
		{"raw (curl -u)", rawBasic(id, sec), 200},
		{"form-urlencoded (RFC 6749)", basic(id, sec), 200},
		{"encoded client ID, raw secret", rawBasic("raw%2Eclient", sec), 200},
		{"wrong secret", rawBasic(id, sec+"x"), 401},
		{"decoded form of a raw secret is not the secret", rawBasic(id, strings.ReplaceAll(sec, "+", " ")), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post(PathToken, "grant_type=client_credentials", map[string]string{"Authorization": tc.authz})
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
	// Two failures so far; one more is still checked (each request one
	// attempt, though two forms of its secret were compared), the next is
	// over the limit.
	if r := h.post(PathToken, "grant_type=client_credentials", map[string]string{"Authorization": rawBasic(id, "a+b%2B")}); r.status != 401 {
		t.Fatalf("third failure: got %d %s, want 401", r.status, r.body)
	}
	wantError(t, h.post(PathToken, "grant_type=client_credentials", map[string]string{"Authorization": rawBasic(id, "a+b%2B")}), 429, "invalid_request")
}

// TestZeroRateLimitIsUnlimited: a limit of 0 means no limit, in the
// server's options as in the configuration (it used to mean "the default"
// here and "unlimited" there).
func TestZeroRateLimitIsUnlimited(t *testing.T) {
	h := newHarness(t, harnessOpts{func(o *Options) {
		o.FailuresPerClient, o.FailuresPerAddress, o.FailureBurst = 0, 0, 0
	}})
	id, _ := h.client(clients.Spec{})
	for i := range 100 {
		if r := h.token(id, "wrong-secret-"+strconv.Itoa(i), ""); r.status != 401 {
			t.Fatalf("wrong secret %d with no limit: got %d %s, want 401", i, r.status, r.body)
		}
	}
}
