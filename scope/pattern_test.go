package scope_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/scope"
)

func TestAllowedBy(t *testing.T) {
	cat, err := scope.Parse([]byte(`
profile:
  label: Profile
  endpoints:
    - workers/me: GET
search:
  label: Search
  endpoints:
    - records/*/search: [GET]
api:read-only:
  label: Read
  endpoints:
    - "*": [GET]
api:
  label: All
  endpoints:
    - "*"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		scopes  []string
		method  string
		path    string
		pattern string
		ok      bool
		matched string
	}{
		{[]string{"search", "api:read-only"}, "GET", "/records/1/search", "records/*/search", true, "records/*/search"},
		{[]string{"api:read-only"}, "GET", "/records/1/search", "*", true, "records/*/search"},
		{[]string{"api:read-only"}, "GET", "/workers/me", "*", true, "workers/me"},
		{[]string{"profile"}, "GET", "/workers/me", "workers/me", true, "workers/me"},
		{[]string{"profile"}, "POST", "/workers/me", "", false, "*"},
		{[]string{"search"}, "DELETE", "/records/1", "", false, "*"},
		{[]string{"api"}, "DELETE", "/records/1", "*", true, "*"},
		{nil, "GET", "/workers/me", "", false, "workers/me"},
	}
	for _, tt := range tests {
		segs, err := scope.SplitPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		s := cat.SetOf(tt.scopes)
		p, ok := cat.AllowedBy(s, tt.method, segs)
		if p != tt.pattern || ok != tt.ok {
			t.Errorf("AllowedBy(%v, %s %s): got %q, %v; want %q, %v", tt.scopes, tt.method, tt.path, p, ok, tt.pattern, tt.ok)
		}
		if ok != cat.Allows(s, tt.method, segs) {
			t.Errorf("AllowedBy(%v, %s %s) = %v disagrees with Allows", tt.scopes, tt.method, tt.path, ok)
		}
		if m := cat.Matched(tt.method, segs); m != tt.matched {
			t.Errorf("Matched(%s %s): got %q, want %q", tt.method, tt.path, m, tt.matched)
		}
	}
	segs, _ := scope.SplitPath("/records/1/search")
	s := cat.SetOf([]string{"search"})
	if n := testing.AllocsPerRun(100, func() { cat.AllowedBy(s, "GET", segs) }); n != 0 {
		t.Errorf("AllowedBy allocates %v times, want 0", n)
	}
}

// AllowedBy agrees with Allows on catalogs with AND, public and any-token
// rules, most specific or not, and names a pattern that matches the call.
func TestAllowedByAgreesWithAllows(t *testing.T) {
	sets := [][]string{{}, {"orders:read"}, {"orders:write"}, {"admin"}, {"customers:read"},
		{"orders:write", "admin"}, {"orders:read", "customers:read"}, {"orders:read", "orders:write", "customers:read", "admin"}}
	paths := []string{"/orders/1", "/orders/mine", "/orders/1/items/2", "/status", "/me", "/nothing", "/orders/1/x"}
	for _, specific := range []bool{true, false} {
		c, err := scope.New(shop(specific))
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{"GET", "HEAD", "PATCH", "DELETE", "POST"} {
			for _, p := range paths {
				segs, _ := scope.SplitPath(p)
				for _, names := range sets {
					s := c.SetOf(names)
					pattern, ok := c.AllowedBy(s, method, segs)
					if ok != c.Allows(s, method, segs) {
						t.Errorf("specific=%v %s %s %v: AllowedBy %v, Allows %v", specific, method, p, names, ok, !ok)
					}
					if ok && pattern == "" {
						t.Errorf("specific=%v %s %s %v: allowed without a pattern", specific, method, p, names)
					}
				}
			}
		}
	}
}

func BenchmarkAllowedBy(b *testing.B) {
	cat := scope.Default()
	segs, _ := scope.SplitPath("/records/1/search")
	s := cat.SetOf([]string{"search"})
	b.Run("Allows", func(b *testing.B) {
		for b.Loop() {
			cat.Allows(s, "GET", segs)
		}
	})
	b.Run("AllowedBy", func(b *testing.B) {
		for b.Loop() {
			cat.AllowedBy(s, "GET", segs)
		}
	})
}
