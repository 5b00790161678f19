package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestAddr(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"forged left part is skipped", "10.1.2.3:443", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "127.0.0.1:80", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.1.2.3:443", []string{"1.2.3.4", "198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"all trusted", "10.1.2.3:443", []string{"10.0.0.5"}, "10.0.0.5"},
		{"trusted proxy, no header", "10.1.2.3:443", nil, "10.1.2.3"},
		{"malformed entry", "10.1.2.3:443", []string{"garbage, 10.0.0.7"}, "10.0.0.7"},
		{"ipv6 client", "10.1.2.3:443", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		req := httptest.NewRequest("POST", "/oauth/token", nil)
		req.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		if got := r.Addr(req); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	var zero *Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:1"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := zero.Addr(req); got != "10.1.2.3" {
		t.Errorf("nil resolver: got %q, want the peer address", got)
	}
	if _, err := New([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad prefix: got nil error")
	}
}

func FuzzAddr(f *testing.F) {
	f.Add("10.1.2.3:443", "1.2.3.4, 198.51.100.1")
	f.Add("[::1]:80", "::ffff:1.2.3.4,,")
	r, _ := New([]string{"10.0.0.0/8", "::1"})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		_ = r.Addr(req) // must not panic
	})
}
