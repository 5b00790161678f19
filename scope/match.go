package scope

import (
	"slices"
	"strings"
)

// A Set is a set of scopes of one catalog, made by [Catalog.SetOf] and
// tested with [Catalog.Allows]. The zero Set is empty. A Set means something
// only to the catalog that made it.
type Set struct {
	// lo holds scopes 0-63, by position in the catalog. hi holds scopes
	// from 64 on, 64 to a word, starting with word off (scopes 64*(off+1)
	// to 64*(off+2)-1); it neither starts nor ends with a zero word, so
	// testing two sets costs what their overlap does, however large the
	// catalog.
	lo  uint64
	off int
	hi  []uint64
}

// SetOf returns the set of the named scopes. Names the catalog does not
// define, such as account:<id> scopes, are ignored.
func (c *Catalog) SetOf(names []string) Set {
	var s Set
	for _, name := range names {
		if i, ok := c.index[name]; ok {
			s.add(i)
		}
	}
	return s
}

// Empty reports whether s holds no scope.
func (s Set) Empty() bool { return s.lo == 0 && len(s.hi) == 0 }

func (s *Set) add(i int) {
	if i < 64 {
		s.lo |= 1 << i
		return
	}
	s.or(i/64-1, 1<<(i%64))
}

// or adds bits to word w of hi (scopes 64*(w+1) and up), growing hi as
// needed. It never writes to an array s shares with another Set.
func (s *Set) or(w int, bits uint64) {
	switch {
	case bits == 0:
		return
	case len(s.hi) == 0:
		s.off, s.hi = w, []uint64{bits}
		return
	case w < s.off:
		hi := make([]uint64, s.off-w+len(s.hi))
		copy(hi[s.off-w:], s.hi)
		s.off, s.hi = w, hi
	case w >= s.off+len(s.hi):
		hi := make([]uint64, w-s.off+1)
		copy(hi, s.hi)
		s.hi = hi
	}
	s.hi[w-s.off] |= bits
}

func (s Set) has(i int) bool {
	if i < 64 {
		return s.lo&(1<<i) != 0
	}
	w := i/64 - 1 - s.off
	return 0 <= w && w < len(s.hi) && s.hi[w]&(1<<(i%64)) != 0
}

// union adds the scopes of t to s.
func (s *Set) union(t Set) {
	s.lo |= t.lo
	for k, bits := range t.hi {
		s.or(t.off+k, bits)
	}
}

func (s *Set) intersects(t *Set) bool {
	if s.lo&t.lo != 0 {
		return true
	}
	from, to := max(s.off, t.off), min(s.off+len(s.hi), t.off+len(t.hi))
	for w := from; w < to; w++ {
		if s.hi[w-s.off]&t.hi[w-t.off] != 0 {
			return true
		}
	}
	return false
}

// Method slots: the methods a catalog can name, and every other method,
// which only endpoints without a method list allow.
const (
	slotGET = iota
	slotHEAD
	slotPOST
	slotPUT
	slotPATCH
	slotDELETE
	slotOPTIONS
	slotOther
	nSlots
)

// methodSlot returns the slot of method, compared exactly: HTTP methods are
// case-sensitive (RFC 9110 §9.1), so "get" is some other method.
func methodSlot(method string) int {
	switch method {
	case "GET":
		return slotGET
	case "HEAD":
		return slotHEAD
	case "POST":
		return slotPOST
	case "PUT":
		return slotPUT
	case "PATCH":
		return slotPATCH
	case "DELETE":
		return slotDELETE
	case "OPTIONS":
		return slotOPTIONS
	}
	return slotOther
}

// endpointAllows reports whether an endpoint with the given methods (nil:
// every method) allows method.
func endpointAllows(methods []string, method string) bool {
	return methods == nil || slices.Contains(methods, method) ||
		method == "HEAD" && slices.Contains(methods, "GET")
}

// A node of the compiled catalog: a segment trie. The path from the root to
// a node spells a pattern prefix; each step is a literal segment or "*".
type node struct {
	lit  map[string]*node // children for literal segments
	star *node            // child for a "*" that is not the pattern's last segment
	end  *leaf            // patterns that end at this node
	rest *leaf            // patterns that end at this node with a trailing "*"
}

// A leaf holds what the patterns ending in one place allow.
type leaf struct {
	allow [nSlots]Set // scopes allowing each method slot
	eps   []epRef     // the endpoints, in catalog order, for Explain
}

type epRef struct{ scope, endpoint int32 }

// compile builds the trie of a catalog's endpoints.
func compile(scopes []Scope) *node {
	root := &node{}
	for si, s := range scopes {
		for ei, e := range s.Endpoints {
			segs := strings.Split(e.Pattern, "/")
			trailing := segs[len(segs)-1] == "*"
			if trailing {
				segs = segs[:len(segs)-1]
			}
			n := root
			for _, seg := range segs {
				n = n.child(seg)
			}
			l := &n.end
			if trailing {
				l = &n.rest
			}
			if *l == nil {
				*l = &leaf{}
			}
			(*l).add(si, ei, e.Methods)
		}
	}
	return root
}

func (n *node) child(seg string) *node {
	if seg == "*" {
		if n.star == nil {
			n.star = &node{}
		}
		return n.star
	}
	c := n.lit[seg]
	if c == nil {
		if n.lit == nil {
			n.lit = make(map[string]*node)
		}
		c = &node{}
		n.lit[seg] = c
	}
	return c
}

func (l *leaf) add(scope, endpoint int, methods []string) {
	l.eps = append(l.eps, epRef{int32(scope), int32(endpoint)})
	if methods == nil {
		for i := range l.allow {
			l.allow[i].add(scope)
		}
		return
	}
	for _, m := range methods {
		l.allow[methodSlot(m)].add(scope)
		if m == "GET" {
			l.allow[slotHEAD].add(scope)
		}
	}
}

// Allows reports whether any scope in s allows method on the path segments
// (from [SplitPath]). A scope's "GET" also allows "HEAD". Methods are
// compared exactly, as HTTP methods are case-sensitive (RFC 9110 §9.1):
// pass r.Method; "get" is not "GET", and only endpoints listed without
// methods allow methods the catalog cannot name.
//
// A literal pattern segment matches a path segment equal to it, byte for
// byte, after decoding; "*" matches any one segment, including one holding
// an encoded "/"; a "*" ending a pattern matches one or more segments. No
// pattern matches the API root (zero segments).
//
// Allows does not allocate, and its cost depends on the number of segments,
// not on the number of patterns: the catalog is compiled into a trie of
// segments by [Parse].
func (c *Catalog) Allows(s Set, method string, segments []string) bool {
	if c.root == nil || s.Empty() {
		return false
	}
	return c.root.allows(&s, methodSlot(method), segments)
}

func (n *node) allows(s *Set, slot int, segs []string) bool {
	if len(segs) == 0 {
		return n.end != nil && n.end.allow[slot].intersects(s)
	}
	if n.rest != nil && n.rest.allow[slot].intersects(s) {
		return true
	}
	if c := n.lit[segs[0]]; c != nil && c.allows(s, slot, segs[1:]) {
		return true
	}
	return n.star != nil && n.star.allows(s, slot, segs[1:])
}

// walk calls fn for every leaf whose patterns match segs.
func (n *node) walk(segs []string, fn func(*leaf)) {
	if len(segs) == 0 {
		if n.end != nil {
			fn(n.end)
		}
		return
	}
	if n.rest != nil {
		fn(n.rest)
	}
	if c := n.lit[segs[0]]; c != nil {
		c.walk(segs[1:], fn)
	}
	if n.star != nil {
		n.star.walk(segs[1:], fn)
	}
}

// Allowing returns the names of every scope that allows method on the path
// segments, in catalog order, or nil if none does. It matches as [Allows]
// does; use it to name the scopes in an insufficient_scope error (RFC 6750
// §3.1).
func (c *Catalog) Allowing(method string, segments []string) []string {
	if c.root == nil {
		return nil
	}
	slot := methodSlot(method)
	var all Set
	c.root.walk(segments, func(l *leaf) { all.union(l.allow[slot]) })
	var names []string
	for i, s := range c.scopes {
		if all.has(i) {
			names = append(names, s.Name)
		}
	}
	return names
}

// An Explanation says whether one scope allows a call, and why.
//
// If Allowed, Pattern and Methods are those of the scope's first endpoint
// (in catalog order) that allows the call. If not, and some endpoint of the
// scope matches the path but not the method, they are that endpoint's;
// otherwise Pattern is "" and no endpoint of the scope matches the path.
// Methods are as in [Endpoint]: nil means every method, and "GET" also
// allows "HEAD".
type Explanation struct {
	Scope   string
	Allowed bool
	Pattern string
	Methods []string
}

// Explain returns an [Explanation] for every scope of the catalog, in
// catalog order, of whether and through which endpoint it allows method on
// the path segments. It agrees with [Catalog.Allows].
func (c *Catalog) Explain(method string, segments []string) []Explanation {
	out := make([]Explanation, len(c.scopes))
	for i, s := range c.scopes {
		out[i].Scope = s.Name
	}
	if c.root == nil {
		return out
	}
	// The lowest index of an endpoint allowing the call, and of one
	// matching only the path, per scope; -1: none.
	allowing := make([]int, len(c.scopes))
	matching := make([]int, len(c.scopes))
	for i := range allowing {
		allowing[i], matching[i] = -1, -1
	}
	lower := func(cur *int, i int) {
		if *cur < 0 || i < *cur {
			*cur = i
		}
	}
	c.root.walk(segments, func(l *leaf) {
		for _, r := range l.eps {
			si, ei := int(r.scope), int(r.endpoint)
			if endpointAllows(c.scopes[si].Endpoints[ei].Methods, method) {
				lower(&allowing[si], ei)
			} else {
				lower(&matching[si], ei)
			}
		}
	})
	for si := range out {
		ei := allowing[si]
		out[si].Allowed = ei >= 0
		if ei < 0 {
			ei = matching[si]
		}
		if ei >= 0 {
			e := c.scopes[si].Endpoints[ei]
			out[si].Pattern, out[si].Methods = e.Pattern, slices.Clone(e.Methods)
		}
	}
	return out
}
