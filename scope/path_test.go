package scope_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		// The root.
		{"", nil, ""},
		{"/", nil, ""},
		{"//", nil, ""},
		{"/./", nil, ""},
		{"a/..", nil, ""},
		{"/a/b/../..", nil, ""},

		// Plain paths, with or without the leading "/".
		{"workers/me", []string{"workers", "me"}, ""},
		{"/workers/me", []string{"workers", "me"}, ""},
		{"/records/7/search", []string{"records", "7", "search"}, ""},

		// Empty segments and a trailing "/" are ignored.
		{"/workers/me/", []string{"workers", "me"}, ""},
		{"//workers///me//", []string{"workers", "me"}, ""},

		// "." is dropped, ".." removes the segment before it.
		{"/./workers/./me/.", []string{"workers", "me"}, ""},
		{"/workers/x/../me", []string{"workers", "me"}, ""},
		{"/workers/me/../../admin", []string{"admin"}, ""},
		{"/workers/me/../../admin/", []string{"admin"}, ""},
		{"/a/b/c/../../d", []string{"a", "d"}, ""},
		{"/a//..//b", []string{"b"}, ""},

		// Encoded dots are dots (RFC 3986 §2.3: "." is unreserved, so %2E is
		// the same character).
		{"/workers/me/%2e%2e/%2E%2E/admin", []string{"admin"}, ""},
		{"/workers/me/.%2e/admin", []string{"workers", "admin"}, ""},
		{"/workers/%2e/me", []string{"workers", "me"}, ""},
		// Dots are only special as whole segments.
		{"/a/.../b", []string{"a", "...", "b"}, ""},
		{"/a/..b/.c/d.", []string{"a", "..b", ".c", "d."}, ""},

		// Each segment is decoded on its own: "%2F" is a "/" inside one
		// segment, never a boundary.
		{"/records%2F7%2Fsearch", []string{"records/7/search"}, ""},
		{"/records/7%2Fsearch", []string{"records", "7/search"}, ""},
		{"/a%2f", []string{"a/"}, ""},
		{"/%2F", []string{"/"}, ""},
		// Decoding happens once: "%252F" is the text "%2F", "%252e%252e" the
		// text "%2e%2e", not a dot segment.
		{"/records%252F7", []string{"records%2F7"}, ""},
		{"/a/%252e%252e/b", []string{"a", "%2e%2e", "b"}, ""},
		{"/caf%C3%A9/x%20y/a+b", []string{"café", "x y", "a+b"}, ""},
		{"/%41%62", []string{"Ab"}, ""},

		// ".." above the root.
		{"..", nil, `invalid path "..": ".." goes above the root`},
		{"/../admin", nil, `invalid path "/../admin": ".." goes above the root`},
		{"/a/../../admin", nil, `invalid path "/a/../../admin": ".." goes above the root`},
		{"/%2e%2e/admin", nil, `invalid path "/%2e%2e/admin": ".." goes above the root`},
		{"/./../a", nil, `invalid path "/./../a": ".." goes above the root`},

		// An encoded "/" (or a "\") next to a dot part.
		{"/records/x%2F..%2F..%2Fadmin", nil, `invalid path "/records/x%2F..%2F..%2Fadmin": segment "x/../../admin" has an encoded "/" or a "\" next to a "." or ".." part`},
		{"/a/%2F..", nil, `invalid path "/a/%2F..": segment "/.." has an encoded "/" or a "\" next to a "." or ".." part`},
		{"/a/.%2Fb", nil, `invalid path "/a/.%2Fb": segment "./b" has an encoded "/" or a "\" next to a "." or ".." part`},
		{"/a/..%5Cadmin", nil, `invalid path "/a/..%5Cadmin": segment "..\\admin" has an encoded "/" or a "\" next to a "." or ".." part`},
		{`/a/b\..\c`, nil, `invalid path "/a/b\\..\\c": segment "b\\..\\c" has an encoded "/" or a "\" next to a "." or ".." part`},

		// Bad escapes and control characters.
		{"/a/%zz", nil, `invalid path "/a/%zz": invalid escape "%zz"`},
		{"/a/%", nil, `invalid path "/a/%": invalid escape "%"`},
		{"/a/%4", nil, `invalid path "/a/%4": invalid escape "%4"`},
		{"/a/%4g/b", nil, `invalid path "/a/%4g/b": invalid escape "%4g"`},
		{"/a/%00", nil, `invalid path "/a/%00": control character '\x00'`},
		{"/a/b%0Ac", nil, `invalid path "/a/b%0Ac": control character '\n'`},
		{"/a/%7f", nil, `invalid path "/a/%7f": control character '\x7f'`},
		{"/a/b\x00", nil, `invalid path "/a/b\x00": control character '\x00'`},
		{"/a\tb", nil, `invalid path "/a\tb": control character '\t'`},
	}
	for _, tt := range tests {
		got, err := scope.SplitPath(tt.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || !cmp.Equal(got, tt.want) {
			t.Errorf("SplitPath(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

// TestSplitPathDoesNotWiden checks, through the matcher, that no spelling
// of a path outside workers/me reaches what the profile scope allows, and
// that spellings of workers/me itself do.
func TestSplitPathDoesNotWiden(t *testing.T) {
	c := scope.Default()
	profile := c.SetOf([]string{"profile"})
	tests := []struct {
		path string
		want bool // profile may GET it
	}{
		{"/workers/me", true},
		{"workers/me", true},
		{"/workers/me/", true},
		{"//workers//me", true},
		{"/workers/./me", true},
		{"/workers/x/../me", true},
		{"/workers/%6De", true}, // "%6D" is "m": the same segment
		{"/workers/me/../../admin", false},
		{"/workers/me/%2e%2e/%2e%2e/admin", false},
		{"/workers/me/x", false},
		{"/workers%2Fme", false},
		{"/workers/me%2F", false},
		{"/workers/me%252F", false},
		{"/workers/ME", false},
		{"/Workers/me", false},
		{"/workers/me%20", false},
	}
	for _, tt := range tests {
		segs, err := scope.SplitPath(tt.path)
		if err != nil {
			t.Errorf("SplitPath(%q): %v", tt.path, err)
			continue
		}
		if got := c.Allows(profile, "GET", segs); got != tt.want {
			t.Errorf("profile may GET %q (segments %q) = %v, want %v", tt.path, segs, got, tt.want)
		}
	}
}
