package openapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/scope"
)

// onePattern reports whether the catalog's own validation accepts pattern.
func onePattern(pattern string) error {
	_, err := scope.New(scope.Definition{
		Scopes: []scope.Scope{{Name: "s", Label: "S"}},
		Rules:  []scope.Rule{{Pattern: pattern, Methods: []string{"GET"}, Scopes: []string{"s"}}},
	})
	return err
}

// fill returns a request path for a pattern: each {parameter} segment
// becomes "{x", which no literal segment of a derived pattern can equal.
func fill(pattern string) []string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.Contains(s, "{") {
			segs[i] = "{x"
		}
	}
	return segs
}

func FuzzPatternOf(f *testing.F) {
	for _, s := range []string{"/", "/a", "/orders/{id}", "/a//b/", "/files/{id}.json", "/caf%C3%A9/{x}", "/a/*", "/{a}{b}", "/a/{", "/%2F", "/a/../b", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		pattern, shape, msg := patternOf(tmpl)
		if msg != "" {
			if pattern != "" || shape != "" {
				t.Fatalf("patternOf(%q) = %q, %q and problem %q", tmpl, pattern, shape, msg)
			}
			return
		}
		if pattern == "" {
			return // the API root: no pattern, reported as such
		}
		if err := onePattern(pattern); err != nil {
			t.Fatalf("patternOf(%q) = %q, which the catalog refuses: %v", tmpl, pattern, err)
		}
		if strings.Count(shape, "/") != strings.Count(pattern, "/") {
			t.Fatalf("patternOf(%q): shape %q does not follow pattern %q", tmpl, shape, pattern)
		}
		// The pattern matches the template's paths, one segment for each
		// parameter, and nothing longer or shorter.
		c, err := scope.New(scope.Definition{
			Scopes:       []scope.Scope{{Name: "s", Label: "S"}},
			Rules:        []scope.Rule{{Pattern: pattern, Methods: []string{"GET"}, Scopes: []string{"s"}}},
			MostSpecific: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		set := c.SetOf([]string{"s"})
		segs := fill(pattern)
		if !c.Allows(set, "GET", segs) {
			t.Fatalf("pattern %q of %q does not match %q", pattern, tmpl, segs)
		}
		if c.Allows(set, "GET", append(segs, "more")) || c.Allows(set, "GET", segs[:len(segs)-1]) {
			t.Fatalf("pattern %q of %q matches a path of another length", pattern, tmpl)
		}
	})
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("openapi: 3.1.0\ninfo: {title: T, version: \"1\"}\npaths:\n  /a/{b}:\n    get:\n      security: [{o: [x]}, {}]\n      responses: {}\ncomponents:\n  securitySchemes:\n    o: {type: oauth2, flows: {implicit: {authorizationUrl: /a, scopes: {x: X}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		api, err := Parse(data, Options{})
		if err != nil {
			if api != nil {
				t.Fatalf("Parse returned an API and an error: %v", err)
			}
			if pe, ok := err.(*scope.ParseError); !ok || len(pe.Problems) == 0 {
				t.Fatalf("Parse error %v is not a *scope.ParseError with problems", err)
			}
			return
		}
		c := api.Catalog
		all := c.SetOf(c.Names())
		for _, o := range api.Operations {
			if o.Pattern == "" {
				continue
			}
			if err := onePattern(o.Pattern); err != nil {
				t.Fatalf("operation %s %s: pattern %q, which the catalog refuses: %v", o.Method, o.Path, o.Pattern, err)
			}
			segs := fill(o.Pattern)
			// Every scope at once meets any requirement, so the catalog
			// allows the call exactly when the operation has one.
			want := len(o.Requirements) > 0 || o.Public
			if got := c.Allows(all, o.Method, segs); got != want {
				t.Fatalf("operation %+v: Allows(every scope) = %v, want %v", o, got, want)
			}
			if got := c.Public(o.Method, segs); got != o.Public {
				t.Fatalf("operation %+v: Public = %v, want %v", o, got, o.Public)
			}
			for _, req := range o.Requirements {
				if !c.Allows(c.SetOf(req), o.Method, segs) {
					t.Fatalf("operation %+v: a token of %q is refused", o, req)
				}
			}
		}
		for _, r := range c.Rules() {
			if err := onePattern(r.Pattern); err != nil {
				t.Fatalf("rule %+v: the catalog refuses its pattern: %v", r, err)
			}
		}
	})
}
