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

		// Dots are only special as whole segments.
		{"/a/.../b", []string{"a", "...", "b"}, ""},
		{"/a/..b/.c/d.", []string{"a", "..b", ".c", "d."}, ""},

		// Each segment is decoded on its own, exactly once.
		{"/caf%C3%A9/x%20y/a+b", []string{"café", "x y", "a+b"}, ""},
		{"/%41%62", []string{"Ab"}, ""},
		{"/a%2Eb/%2Ex/x%2E", []string{"a.b", ".x", "x."}, ""},
		// A "%25" not followed by two hex digits is a plain "%".
		{"/100%25/%25zz/a%25", []string{"100%", "%zz", "a%"}, ""},

		// ".." above the root.
		{"..", nil, `invalid path "..": ".." goes above the root`},
		{"/../admin", nil, `invalid path "/../admin": ".." goes above the root`},
		{"/a/../../admin", nil, `invalid path "/a/../../admin": ".." goes above the root`},
		{"/./../a", nil, `invalid path "/./../a": ".." goes above the root`},

		// Spellings servers read differently are refused: an encoded "/",
		// "\" (raw or encoded), encoded dot segments, double encoding.
		{"/records%2F7%2Fsearch", nil, `invalid path "/records%2F7%2Fsearch": encoded "/" ("%2F"): servers disagree on whether it separates segments`},
		{"/records/7%2fsearch", nil, `invalid path "/records/7%2fsearch": encoded "/" ("%2f"): servers disagree on whether it separates segments`},
		{"/records/x%2F..%2F..%2Fadmin", nil, `invalid path "/records/x%2F..%2F..%2Fadmin": encoded "/" ("%2F"): servers disagree on whether it separates segments`},
		{"/a/..%5Cadmin", nil, `invalid path "/a/..%5Cadmin": encoded "\" ("%5C") (some servers take it for "/")`},
		{"/a/%5c", nil, `invalid path "/a/%5c": encoded "\" ("%5c") (some servers take it for "/")`},
		{`/a/b\..\c`, nil, `invalid path "/a/b\\..\\c": "\" in a segment (some servers take it for "/")`},
		{`/a\b`, nil, `invalid path "/a\\b": "\" in a segment (some servers take it for "/")`},
		{"/workers/me/%2e%2e/%2E%2E/admin", nil, `invalid path "/workers/me/%2e%2e/%2E%2E/admin": encoded dot segment "%2e%2e": servers disagree on whether to resolve it`},
		{"/workers/me/.%2e/admin", nil, `invalid path "/workers/me/.%2e/admin": encoded dot segment ".%2e": servers disagree on whether to resolve it`},
		{"/workers/%2E/me", nil, `invalid path "/workers/%2E/me": encoded dot segment "%2E": servers disagree on whether to resolve it`},
		{"/%2e%2e/admin", nil, `invalid path "/%2e%2e/admin": encoded dot segment "%2e%2e": servers disagree on whether to resolve it`},
		{"/records%252F7", nil, `invalid path "/records%252F7": double encoding ("%252F"): a server that decodes twice would see "/"`},
		{"/a/%252e%252e/b", nil, `invalid path "/a/%252e%252e/b": double encoding ("%252e"): a server that decodes twice would see "."`},
		{"/a/%2541", nil, `invalid path "/a/%2541": double encoding ("%2541"): a server that decodes twice would see "A"`},

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

// TestSplitPathAllowEncodedSlash: with AllowEncodedSlash, "%2F" is part of
// one segment, never a boundary; everything else is as strict as before.
func TestSplitPathAllowEncodedSlash(t *testing.T) {
	rules := scope.PathRules{AllowEncodedSlash: true}
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"/records/x%2Fadmin/search", []string{"records", "x/admin", "search"}, ""},
		{"/records%2F7%2Fsearch", []string{"records/7/search"}, ""},
		{"/a%2f", []string{"a/"}, ""},
		{"/%2F", []string{"/"}, ""},
		{"/workers/me", []string{"workers", "me"}, ""},
		// A "." or ".." hidden behind an encoded "/".
		{"/records/x%2F..%2F..%2Fadmin", nil, `invalid path "/records/x%2F..%2F..%2Fadmin": segment "x/../../admin" has an encoded "/" next to a "." or ".." part`},
		{"/a/%2F..", nil, `invalid path "/a/%2F..": segment "/.." has an encoded "/" next to a "." or ".." part`},
		{"/a/.%2Fb", nil, `invalid path "/a/.%2Fb": segment "./b" has an encoded "/" next to a "." or ".." part`},
		// The other refusals stay.
		{"/a/%5C", nil, `invalid path "/a/%5C": encoded "\" ("%5C") (some servers take it for "/")`},
		{"/a/%252F", nil, `invalid path "/a/%252F": double encoding ("%252F"): a server that decodes twice would see "/"`},
		{"/a/%2e%2e", nil, `invalid path "/a/%2e%2e": encoded dot segment "%2e%2e": servers disagree on whether to resolve it`},
	}
	for _, tt := range tests {
		got, err := rules.Split(tt.in)
		var gotErr string
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr || !cmp.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
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
		{"/workers/me/x", false},
		{"/workers/me%25", false},
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
	// With encoded slashes allowed, a segment holding "/" is one segment.
	rules := scope.PathRules{AllowEncodedSlash: true}
	for _, p := range []string{"/workers%2Fme", "/workers/me%2F", "/workers/me/%2Fx"} {
		segs, err := rules.Split(p)
		if err != nil {
			t.Errorf("Split(%q): %v", p, err)
			continue
		}
		if c.Allows(profile, "GET", segs) {
			t.Errorf("profile may GET %q (segments %q) = true, want false", p, segs)
		}
	}
}
