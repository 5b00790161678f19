package scope

// AllowedBy reports whether the token's scopes s allow method on the path
// segments, as [Catalog.Allows] does, and if so returns the pattern of a
// rule that allows the call: the most specific one (a literal segment
// before "*", "*" before a trailing "*", from the left), so a call to
// records/1/search allowed both by "*" and by "records/*/search" is
// counted under "records/*/search". It is for reports of what a token was
// used for (per endpoint pattern, never per raw path), and, like Allows,
// does not allocate. With {parameter} segments, two patterns that differ
// only in their parameters' names share one pattern: the first's.
func (c *Catalog) AllowedBy(s Set, method string, segments []string) (pattern string, ok bool) {
	if c.root == nil || s.Empty() && !c.open {
		return "", false
	}
	slot := methodSlot(method)
	var l *leaf
	if c.specific {
		if l = c.root.decide(slot, segments); l != nil && !l.allows(&s, slot) {
			l = nil
		}
	} else if c.multi {
		l = c.root.allowingMulti(&s, slot, segments)
	} else {
		l = c.root.allowing(&s, slot, segments)
	}
	if l == nil {
		return "", false
	}
	return c.rules[l.rules[0]].Pattern, true
}

// Matched returns the pattern of the most specific rule whose pattern
// matches the path segments and which names method (in a MostSpecific
// catalog, the deciding one), or "" if none does: for reports of refused
// calls. It does not allocate.
func (c *Catalog) Matched(method string, segments []string) string {
	if c.root == nil {
		return ""
	}
	slot := methodSlot(method)
	if l := c.root.decide(slot, segments); l != nil {
		return c.rules[l.rules[0]].Pattern
	}
	return ""
}

// allowing returns the most specific leaf whose rules allow slot to a
// token with scopes s, or nil, in a catalog whose every rule is of one
// scope (as node.allows).
func (n *node) allowing(s *Set, slot int, segs []string) *leaf {
	if len(segs) == 0 {
		if n.end != nil && n.end.allow[slot].intersects(s) {
			return n.end
		}
		return nil
	}
	if c := n.lit[segs[0]]; c != nil {
		if l := c.allowing(s, slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.star != nil {
		if l := n.star.allowing(s, slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.rest != nil && n.rest.allow[slot].intersects(s) {
		return n.rest
	}
	return nil
}

// allowingMulti is allowing for a catalog with rules of several scopes or
// none (as node.allowsMulti).
func (n *node) allowingMulti(s *Set, slot int, segs []string) *leaf {
	if len(segs) == 0 {
		if n.end != nil && n.end.allows(s, slot) {
			return n.end
		}
		return nil
	}
	if c := n.lit[segs[0]]; c != nil {
		if l := c.allowingMulti(s, slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.star != nil {
		if l := n.star.allowingMulti(s, slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.rest != nil && n.rest.allows(s, slot) {
		return n.rest
	}
	return nil
}
