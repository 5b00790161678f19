package console

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/console/", "/console/"},
		{"/oauth/authorize?client_id=a&scope=b%20c", "/oauth/authorize?client_id=a&scope=b%20c"},
		{"/", "/"},
		{"", ""},
		{"//evil.example", ""},
		{"///evil.example", ""},
		{"/\\evil.example", ""},
		{"/\t/evil.example", ""},
		{"https://evil.example/", ""},
		{"evil.example", ""},
		{"javascript:alert(1)", ""},
		{"/%0a/x", "/%0a/x"},
	} {
		if got := SafeNext(tc.in); got != tc.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/", "//x", "/\\x", "https://x/", "/a?b=//c", "/%2F%2Fx", "/\x00"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://issuer.example/console/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := SafeNext(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("SafeNext(%q) = %q; want it unchanged or empty", next, got)
		}
		// What a browser would do with the Location header: drop tabs and
		// newlines, treat backslashes as slashes, resolve against the page.
		b := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		u, err := url.Parse(b)
		if err != nil {
			t.Fatalf("SafeNext accepted %q, which does not parse: %v", next, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("SafeNext accepted %q, which leads to %s", next, r)
		}
	})
}
