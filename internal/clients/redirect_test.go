package clients

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

func TestCheckRedirectURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want string // "" = allowed; else part of the error
	}{
		{"https://app.example/callback", ""},
		{"https://app.example:8443/cb?x=1&y=2", ""},
		{"https://[2001:db8::1]/cb", ""},
		{"http://127.0.0.1/cb", ""},
		{"http://127.0.0.1:49152/cb", ""},
		{"http://[::1]:8000/cb", ""},
		{"http://localhost:8000/callback", ""},
		{"com.example.app:/callback", ""},
		{"com.example.app:/oauth2redirect/provider", ""},
		{"com.googleusercontent.apps.123-abc:/oauth2redirect", ""},
		{"com.example.app://callback", ""},

		{"javascript:alert(document.cookie)", "the javascript: scheme is not allowed"},
		{"JavaScript:alert(1)", "the javascript: scheme is not allowed"},
		{"javascript://example.com/%0Aalert(1)", "the javascript: scheme is not allowed"},
		{"data:text/html,<script>alert(1)</script>", "the data: scheme is not allowed"},
		{"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "the data: scheme is not allowed"},
		{"vbscript:msgbox(1)", "the vbscript: scheme is not allowed"},
		{"file:///etc/passwd", "the file: scheme is not allowed"},
		{"about:blank", "the about: scheme is not allowed"},
		{"blob:https://app.example/1234", "the blob: scheme is not allowed"},
		{"java\tscript:alert(1)", "control character"},
		{" https://app.example/cb", "space"},
		{"https://app.example/c b", "space"},
		{"https://app.example/cb\u00e9", "non-ASCII"},
		{"https://app.example/cb#frag", "must not contain a fragment"},
		{"https://app.example/cb#", "must not contain a fragment"},
		{"com.example.app:/cb#x", "must not contain a fragment"},
		{"/relative/cb", "must be an absolute URI"},
		{"app.example/cb", "must be an absolute URI"},
		{"", "must be an absolute URI"},
		{"http://app.example/cb", "must use https"},
		{"http://127.0.0.2/cb", "must use https"},
		{"http://localhost.evil.example/cb", "must use https"},
		{"http://127.0.0.1.nip.io/cb", "must use https"},
		{"https:/no-host", "must name a host"},
		{"https:opaque", "must name a host"},
		{"https://:443/cb", "must name a host"},
		{"https://user:pass@app.example/cb", "user name or password"},
		{"https://app.example@evil.example/cb", "user name or password"},
		{"myapp:/callback", "reverse-domain form"},
		{"ftp://files.example/cb", "reverse-domain form"},
		{"mailto:a@example.com", "reverse-domain form"},
		{"com..app:/cb", "reverse-domain form"},
		{"com.example.:/cb", "reverse-domain form"},
		{"com.example.app:callback", "must be followed by a path"},
		{"https://app.example/" + strings.Repeat("a", 2000), "longer than 2000"},
	} {
		err := CheckRedirectURI(tc.uri)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: got %v, want allowed", tc.uri, err)
		case tc.want != "" && err == nil:
			t.Errorf("%q: allowed, want an error containing %q", tc.uri, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%q: got %q, want it to contain %q", tc.uri, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%q: the error %q is more than one line", tc.uri, err)
		}
	}
}

// TestRedirectURIsOnCreateAndUpdate checks that the service, which the CLI,
// the console and registration all go through, refuses a bad redirect URI
// when creating and when updating a client.
func TestRedirectURIsOnCreateAndUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ac := []string{store.GrantAuthorizationCode}
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,hi", "https://app.example/cb#x"} {
		_, _, err := f.svc.Create(ctx, "t", Spec{Name: "x", GrantTypes: ac, RedirectURIs: []string{bad}})
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "redirect URI") {
			t.Errorf("create with %q: got %v, want a redirect URI validation error", bad, err)
		}
	}
	c, _, err := f.svc.Create(ctx, "t", Spec{Name: "x", GrantTypes: ac, RedirectURIs: []string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{"https://app.example/cb", "javascript:alert(1)"}
	if _, err := f.svc.Update(ctx, "t", c.ID, Patch{RedirectURIs: &bad}); err == nil || !strings.Contains(err.Error(), "javascript: scheme") {
		t.Errorf("update to %q: got %v, want a javascript: scheme error", bad, err)
	}
	got, err := f.svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != "https://app.example/cb" {
		t.Errorf("after a refused update: stored %q, want the old URI only", got.RedirectURIs)
	}
}

func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://app.example/cb", "http://127.0.0.1:8000/cb", "http://[::1]/cb", "http://localhost/cb",
		"com.example.app:/cb", "javascript:alert(1)", "data:text/html,x", "https://a@b/c", "https://a/b#c",
		"JAVA SCRIPT:x", "http://127.0.0.1.evil/cb", "a.b:c", "a.b://c/d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckRedirectURI(s) != nil {
			return
		}
		// Whatever is allowed is one of the three kinds, parses, and has no
		// fragment, user information or browser-handled scheme.
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q allowed but does not parse: %v", s, err)
		}
		if strings.Contains(s, "#") || u.User != nil || u.Fragment != "" {
			t.Fatalf("%q allowed with a fragment or user information", s)
		}
		switch u.Scheme {
		case "https":
			if u.Hostname() == "" {
				t.Fatalf("%q allowed without a host", s)
			}
		case "http":
			if !isLoopback(u.Hostname()) {
				t.Fatalf("%q allowed: http on a host that is not loopback", s)
			}
		default:
			if !strings.Contains(u.Scheme, ".") || u.Opaque != "" {
				t.Fatalf("%q allowed: scheme %q is not a private-use reverse-domain scheme with a path", s, u.Scheme)
			}
			for _, b := range browserSchemes {
				if u.Scheme == b {
					t.Fatalf("%q allowed with browser scheme %s", s, b)
				}
			}
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				t.Fatalf("%q allowed with byte %#x", s, s[i])
			}
		}
	})
}

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"https://a.example/cb", "http://localhost:8000/cb"}
	loop := []string{"http://127.0.0.1:8000/cb", "http://[::1]/cb?x=1"}
	for _, tc := range []struct {
		registered []string
		sent, want string
		ok         bool
	}{
		{reg, "https://a.example/cb", "https://a.example/cb", true},
		{reg, "https://a.example/cb/", "", false},
		{reg, "https://A.example/cb", "", false},
		{reg, "", "", false},
		{reg[:1], "", "https://a.example/cb", true},
		{nil, "", "", false},
		// RFC 8252 §7.3: any port on a loopback IP address, nothing else loose.
		{loop, "http://127.0.0.1:49152/cb", "http://127.0.0.1:49152/cb", true},
		{loop, "http://127.0.0.1/cb", "http://127.0.0.1/cb", true},
		{loop, "http://[::1]:61000/cb?x=1", "http://[::1]:61000/cb?x=1", true},
		{loop, "http://[::1]/cb?x=1", "http://[::1]/cb?x=1", true},
		{loop, "http://127.0.0.1:49152/cb2", "", false},
		{loop, "http://127.0.0.1:49152/cb?x=1", "", false},
		{loop, "http://[::1]:61000/cb", "", false},
		{loop, "https://127.0.0.1:49152/cb", "", false},
		{loop, "http://127.0.0.1:0/cb", "", false},
		{loop, "http://127.0.0.1:049152/cb", "", false},
		{loop, "http://127.0.0.1:70000/cb", "", false},
		{loop, "http://127.0.0.1:+80/cb", "", false},
		{loop, "http://127.0.0.1:/cb", "", false},
		{loop, "http://user@127.0.0.1:5/cb", "", false},
		{loop, "http://127.0.0.2:5/cb", "", false},
		{reg, "http://localhost:8001/cb", "", false}, // localhost: exact only
		{reg, "http://localhost:8000/cb", "http://localhost:8000/cb", true},
	} {
		got, ok := MatchRedirectURI(tc.registered, tc.sent)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MatchRedirectURI(%q, %q) = %q, %v; want %q, %v", tc.registered, tc.sent, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzRedirectURIMatch(f *testing.F) {
	f.Add("https://a.example/cb", "https://a.example/cb")
	f.Add("https://a.example/cb", "")
	f.Add("https://a.example/cb", "https://a.example/cb?x")
	f.Add("http://127.0.0.1:8000/cb", "http://127.0.0.1:49152/cb")
	f.Add("http://[::1]/cb", "http://[::1]:5/cb")
	f.Fuzz(func(t *testing.T, registered, sent string) {
		reg := strings.Split(registered, " ")
		got, ok := MatchRedirectURI(reg, sent)
		if !ok {
			return
		}
		if !slices.Contains(reg, got) {
			// Only a loopback IP URI differing in its port alone.
			p, ok := loopbackWithoutPort(got)
			if !ok || !slices.ContainsFunc(reg, func(r string) bool { q, ok := loopbackWithoutPort(r); return ok && q == p }) {
				t.Fatalf("matched %q, which is not registered", got)
			}
		}
		if sent != "" && got != sent {
			t.Fatalf("sent %q, matched %q", sent, got)
		}
		if sent == "" && len(reg) != 1 {
			t.Fatalf("omitted redirect_uri matched with %d registered", len(reg))
		}
	})
}
