package scope_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/scope"
)

// genDefinition makes a definition from fuzz bytes: up to five scopes (64
// more before them when spec[0] says so, so that sets use several words),
// and rules of one to three segments from "a", "b", "{p}" and "*", some
// methods, and a subset of the scopes (none: any token, or public).
func genDefinition(spec []byte) (scope.Definition, []string) {
	d := scope.Definition{}
	var names []string
	if len(spec) > 0 && spec[0]&0x80 != 0 {
		for i := range 64 {
			d.Scopes = append(d.Scopes, scope.Scope{Name: fmt.Sprint("pad", i), Label: "P"})
		}
	}
	n := 1
	if len(spec) > 0 {
		n += int(spec[0] % 5)
	}
	for i := range n {
		names = append(names, fmt.Sprint("s", i))
		d.Scopes = append(d.Scopes, scope.Scope{Name: names[i], Label: "S"})
	}
	if len(spec) > 1 {
		d.MostSpecific = spec[1]&1 != 0
	}
	alphabet := []string{"a", "b", "{p}", "*"}
	methods := []string{"GET", "HEAD", "POST", "DELETE"}
	seen := make(map[string]bool)
	for i := 2; i+3 < len(spec) && len(d.Rules) < 12; i += 4 {
		b0, b1, b2, b3 := spec[i], spec[i+1], spec[i+2], spec[i+3]
		var segs []string
		for j := range 1 + int(b0%3) {
			segs = append(segs, alphabet[(b1>>(2*j))&3])
		}
		r := scope.Rule{Pattern: strings.Join(segs, "/")}
		if b2&1 == 0 {
			r.Methods = []string{}
			for j, m := range methods {
				if b2&(2<<j) != 0 {
					r.Methods = append(r.Methods, m)
				}
			}
			if len(r.Methods) == 0 {
				r.Methods = []string{"GET"}
			}
		}
		r.Scopes = []string{}
		for j, name := range names {
			if b3&(1<<j) != 0 {
				r.Scopes = append(r.Scopes, name)
			}
		}
		r.Public = len(r.Scopes) == 0 && b3&0x80 != 0
		key := fmt.Sprint(r.Pattern, r.Scopes, r.Public)
		if seen[key] {
			continue
		}
		seen[key] = true
		d.Rules = append(d.Rules, r)
	}
	return d, names
}

// refSegs matches pattern segments against a path as the package
// documents it: "*" last matches one or more segments, "*" elsewhere and
// "{p}" anywhere exactly one, a literal itself.
func refSegs(pat, path []string) bool {
	for i, p := range pat {
		if p == "*" && i == len(pat)-1 {
			return len(path) > i
		}
		if i >= len(path) || p != "*" && p != "{p}" && p != path[i] {
			return false
		}
	}
	return len(path) == len(pat)
}

// refClass is a pattern's specificity, compared lexicographically: a
// literal 0, a one-segment wildcard 1, a trailing "*" 2.
func refClass(pat []string) []int {
	out := make([]int, len(pat))
	for i, p := range pat {
		switch {
		case p == "*" && i == len(pat)-1:
			out[i] = 2
		case p == "*" || p == "{p}":
			out[i] = 1
		}
	}
	return out
}

// refShape is the trie place of a pattern: which patterns share rules.
func refShape(pat []string) string {
	out := slices.Clone(pat)
	for i, p := range out {
		if p == "{p}" && i < len(out)-1 {
			out[i] = "*"
		}
	}
	return strings.Join(out, "/")
}

func FuzzRules(f *testing.F) {
	f.Add([]byte{0x03, 1, 0, 0x02, 0x00, 0x03, 1, 0x09, 0x11, 0x05, 2, 0x12, 0x00, 0x80}, []byte{1, 2, 0, 2, 3})
	f.Add([]byte{0x84, 1, 2, 0x24, 0x04, 0x0f, 0, 0x00, 0x09, 0x01}, []byte{0, 3, 0, 1, 2, 0x0f})
	f.Add([]byte{0x02, 0, 1, 0x07, 0x0a, 0x03, 2, 0x3f, 0x00, 0x04}, []byte{3, 2, 1, 0, 0x06})
	f.Fuzz(func(t *testing.T, spec, req []byte) {
		d, names := genDefinition(spec)
		c, err := scope.New(d)
		if err != nil {
			t.Fatalf("New(%+v): %v", d, err)
		}
		if len(req) < 2 {
			return
		}
		method := []string{"GET", "HEAD", "POST", "DELETE", "PUT", "PROPFIND"}[req[0]%6]
		var path []string
		for i := range int(req[1] % 4) {
			if 2+i < len(req) {
				path = append(path, []string{"a", "b", "c"}[req[2+i]%3])
			} else {
				path = append(path, "a")
			}
		}
		var token []string
		last := req[len(req)-1]
		for j, name := range names {
			if last&(1<<j) != 0 {
				token = append(token, name)
			}
		}

		// The reference: which rules decide the call, and which allow it.
		type cand struct {
			i     int
			shape string
			class []int
		}
		headOwn := make(map[string]bool) // shapes with a rule naming HEAD
		for _, r := range d.Rules {
			if d.MostSpecific && slices.Contains(r.Methods, "HEAD") {
				headOwn[refShape(strings.Split(r.Pattern, "/"))] = true
			}
		}
		var cands []cand
		for i, r := range d.Rules {
			pat := strings.Split(r.Pattern, "/")
			if !refSegs(pat, path) {
				continue
			}
			shape := refShape(pat)
			ok := r.Methods == nil || slices.Contains(r.Methods, method) ||
				method == "HEAD" && slices.Contains(r.Methods, "GET") && !headOwn[shape]
			if ok {
				cands = append(cands, cand{i, shape, refClass(pat)})
			}
		}
		if d.MostSpecific && len(cands) > 0 {
			best := slices.MinFunc(cands, func(a, b cand) int { return slices.Compare(a.class, b.class) })
			cands = slices.DeleteFunc(cands, func(x cand) bool { return x.shape != best.shape })
		}
		var wantRules []scope.Rule
		wantAllowed, wantPublic := false, false
		var singles []string
		best, bestMissing := -1, 0
		for _, x := range cands {
			r := d.Rules[x.i]
			wantRules = append(wantRules, r)
			missing := 0
			for _, s := range r.Scopes {
				if !slices.Contains(token, s) {
					missing++
				}
			}
			wantAllowed = wantAllowed || missing == 0
			wantPublic = wantPublic || r.Public
			switch {
			case len(r.Scopes) == 1:
				singles = append(singles, r.Scopes[0])
			case len(r.Scopes) > 1 && (best < 0 || missing < bestMissing || missing == bestMissing && len(r.Scopes) < len(d.Rules[best].Scopes)):
				best, bestMissing = x.i, missing
			}
		}
		var wantRequired []string
		switch {
		case len(singles) > 0:
			for _, n := range names {
				if slices.Contains(singles, n) {
					wantRequired = append(wantRequired, n)
				}
			}
		case best >= 0:
			wantRequired = d.Rules[best].Scopes
		}

		call := fmt.Sprintf("definition %+v\n%s %q with %q", d, method, path, token)
		if got := c.Allows(c.SetOf(token), method, path); got != wantAllowed {
			t.Fatalf("%s\nAllows = %v, want %v", call, got, wantAllowed)
		}
		if got := c.Public(method, path); got != wantPublic {
			t.Fatalf("%s\nPublic = %v, want %v", call, got, wantPublic)
		}
		if got := c.Required(c.SetOf(token), method, path); !slices.Equal(got, wantRequired) {
			t.Fatalf("%s\nRequired = %q, want %q", call, got, wantRequired)
		}
		if diff := cmp.Diff(wantRules, c.RulesFor(method, path)); diff != "" {
			t.Fatalf("%s\nRulesFor (-want +got):\n%s", call, diff)
		}
		// Explain agrees: a scope is Allowed when a rule of it alone is.
		for _, x := range c.Explain(method, path) {
			want := slices.ContainsFunc(wantRules, func(r scope.Rule) bool { return len(r.Scopes) == 1 && r.Scopes[0] == x.Scope })
			if x.Allowed != want {
				t.Fatalf("%s\nExplain(%s).Allowed = %v, want %v", call, x.Scope, x.Allowed, want)
			}
		}
	})
}
