package gateway

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/resource"
	"github.com/gatehouse/gatehouse/scope"
)

// TestCanonicalizeFastPath checks that a path isCanonical accepts is one
// that rebuilding would give back unchanged, and that it turns down the
// paths rebuilding changes.
func TestCanonicalizeFastPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		fast bool
	}{
		{"/", true},
		{"/records/1", true},
		{"/records/1/", true},
		{"/a-b_c.d~e/f:g@h+i$j&k=l", true},
		{"/caf\u00e9", false}, // re-escaped as %C3%A9
		{"", false},
		{"records", false},
		{"//records", false},
		{"/records//1", false},
		{"/records/./1", false},
		{"/records/../1", false},
		{"/records/.", false},
		{"/records/..", false},
		{"/records/%41", false},
		{"/records/a%2Fb", false},
		{"/a;b", false},
		{"/a,b", false},
		{"/a b", false},
		{"/a\\b", false},
		{"/a\x01b", false},
		{"/a'b", false},
		{"/.x/..y/...", true},
	} {
		u := &url.URL{Path: tc.path}
		escaped := u.EscapedPath()
		if got := isCanonical(escaped); got != tc.fast {
			t.Errorf("isCanonical(%q): got %v, want %v", escaped, got, tc.fast)
		}
		if !isCanonical(escaped) {
			continue
		}
		for _, rules := range []scope.PathRules{{}, {AllowEncodedSlash: true}} {
			r := &url.URL{Path: tc.path}
			rebuild(r, escaped, rules)
			if r.Path != escaped || r.RawPath != "" {
				t.Errorf("rebuild(%q): got path %q, raw %q; the fast path keeps %q, \"\"", escaped, r.Path, r.RawPath, escaped)
			}
		}
	}
}

// TestSetHeadersSeparate checks that the headers setHeaders sets, which
// share one allocation, stay separate: adding a value to one leaves the
// others as they were.
func TestSetHeadersSeparate(t *testing.T) {
	in := &http.Request{RemoteAddr: "192.0.2.1:4000", Host: "api.example", Header: http.Header{}}
	out := &http.Request{Header: http.Header{"X-Gatehouse-Scope": {"forged"}, "X_account": {"forged"}}}
	c := &resource.Claims{ClientID: "app", Subject: "app", Scopes: []string{"a", "b"}, AccountID: "acct_1"}
	setHeaders(&httputil.ProxyRequest{In: in, Out: out}, headerRules{account: "X-Account"}, c)
	h := out.Header
	for name := range h {
		h.Add(name, "extra")
	}
	want := http.Header{
		"X-Forwarded-For":       {"192.0.2.1", "extra"},
		"X-Forwarded-Host":      {"api.example", "extra"},
		"X-Forwarded-Proto":     {"http", "extra"},
		"X-Gatehouse-Client-Id": {"app", "extra"},
		"X-Gatehouse-Subject":   {"app", "extra"},
		"X-Gatehouse-Scope":     {"a b", "extra"},
		"X-Gatehouse-Account":   {"acct_1", "extra"},
		"X-Account":             {"acct_1", "extra"},
		"User-Agent":            {"", "extra"},
	}
	if len(h) != len(want) {
		t.Errorf("headers: got %v, want %v", h, want)
	}
	for name, vals := range want {
		if got := h[name]; len(got) != 2 || got[0] != vals[0] || got[1] != vals[1] {
			t.Errorf("%s: got %q, want %q", name, got, vals)
		}
	}
}

// TestBufferPool checks that the pool hands out full-size buffers and
// drops a buffer too small to be one instead of handing it out again.
func TestBufferPool(t *testing.T) {
	bp := NewBufferPool()
	b := bp.Get()
	if len(b) != bufferSize {
		t.Fatalf("Get: got %d bytes, want %d", len(b), bufferSize)
	}
	bp.Put(b)
	bp.Put(make([]byte, 10))
	for range 4 {
		if b := bp.Get(); len(b) != bufferSize {
			t.Fatalf("Get after Put of a small buffer: got %d bytes, want %d", len(b), bufferSize)
		}
	}
}
