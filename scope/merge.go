package scope

import (
	"fmt"
	"slices"
	"strings"
)

// Merge lays a YAML scope catalog (data, in [Parse]'s format) over d, a
// definition derived from an API description such as an OpenAPI document,
// which has the last word on endpoints. The YAML catalog may describe only
// scopes that d defines, and for each it may give:
//
//   - label: taken if d's label is empty; if d has one, the two must be
//     the same text (surrounding space aside), or it is a conflict;
//   - default and self_service: taken as given (d has neither);
//   - endpoints: only the ones d gives the scope (in any order; methods
//     compared as sets), so that a catalog printed from d may be merged
//     back; any difference is a conflict, and so is any endpoint at all
//     where d's scope has endpoints shared with other scopes (AND rules),
//     which YAML cannot express.
//
// A scope's label may be left out, unlike in [Parse]. Every problem is
// reported at once, as a *[ParseError] with line numbers, and d is left
// unchanged unless there is none.
func (d *Definition) Merge(data []byte) error {
	p := &parser{c: &Catalog{index: make(map[string]int)}, overlay: true}
	if err := p.parse(data); err != nil {
		return err
	}
	index := make(map[string]int, len(d.Scopes))
	for i, s := range d.Scopes {
		index[s.Name] = i
	}
	out := slices.Clone(d.Scopes)
	for k, o := range p.c.scopes {
		m := p.meta[k]
		i, ok := index[o.Name]
		if !ok {
			p.add(m.name, "scope %q is not a scope of the API description (the OpenAPI document's oauth2 security schemes); a YAML catalog merged with it can only describe those", o.Name)
			continue
		}
		base := &out[i]
		if m.label != nil {
			if bl := strings.TrimSpace(base.Label); bl != "" && bl != o.Label {
				p.add(m.label, "scope %q: label %q conflicts with the description %q in the API description; keep one of them, or make them the same", o.Name, o.Label, bl)
			} else {
				base.Label = o.Label
			}
		}
		if m.dflt != nil {
			base.Default = o.Default
		}
		if m.selfService != nil {
			base.SelfService = o.SelfService
		}
		if m.endpoints != nil {
			if msg := d.sameEndpoints(o.Name, o.Endpoints); msg != "" {
				p.add(m.endpoints, "scope %q: endpoints %s; leave them out, the API description gives them", o.Name, msg)
			}
		}
	}
	if len(p.problems) > 0 {
		pe := &ParseError{}
		slices.SortStableFunc(p.problems, func(a, b problem) int { return a.line - b.line })
		for _, pr := range p.problems {
			pe.Problems = append(pe.Problems, pr.msg)
		}
		return pe
	}
	d.Scopes = out
	return nil
}

// sameEndpoints returns "" if eps are exactly the endpoints d gives scope
// name, or says how they differ.
func (d *Definition) sameEndpoints(name string, eps []Endpoint) string {
	var theirs []string
	shared := false
	note := func(pattern string, methods []string, scopes int) {
		if scopes > 1 {
			shared = true
		}
		theirs = append(theirs, endpointKey(pattern, methods))
	}
	for _, s := range d.Scopes {
		if s.Name == name {
			for _, e := range s.Endpoints {
				note(e.Pattern, e.Methods, 1+len(e.With))
			}
		}
	}
	for _, r := range d.Rules {
		if slices.Contains(r.Scopes, name) {
			note(r.Pattern, r.Methods, len(r.Scopes))
		}
	}
	if shared {
		return "cannot be given here: in the API description the scope allows some endpoints only together with other scopes"
	}
	mine := make([]string, len(eps))
	for i, e := range eps {
		mine[i] = endpointKey(e.Pattern, e.Methods)
	}
	slices.Sort(theirs)
	theirs = slices.Compact(theirs)
	slices.Sort(mine)
	if slices.Equal(theirs, mine) {
		return ""
	}
	if len(theirs) == 0 {
		return fmt.Sprintf("differ from the API description's, which gives the scope none (here: %s)", listShort(mine))
	}
	return fmt.Sprintf("differ from the API description's (there: %s; here: %s)", listShort(theirs), listShort(mine))
}

// endpointKey renders an endpoint for comparison and messages: its pattern
// and its sorted methods.
func endpointKey(pattern string, methods []string) string {
	p := strings.TrimPrefix(pattern, "/")
	if methods == nil {
		return p
	}
	ms := make([]string, len(methods))
	for i, m := range methods {
		ms[i] = strings.ToUpper(m)
	}
	slices.Sort(ms)
	return p + " [" + strings.Join(slices.Compact(ms), ", ") + "]"
}

// listShort joins the first few items of a list for a message.
func listShort(items []string) string {
	const max = 5
	if len(items) == 0 {
		return "none"
	}
	if len(items) > max {
		return strings.Join(items[:max], ", ") + fmt.Sprintf(", and %d more", len(items)-max)
	}
	return strings.Join(items, ", ")
}
