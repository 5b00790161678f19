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

// subsetOf reports whether every scope of s is in t.
func (s *Set) subsetOf(t *Set) bool {
	if s.lo&^t.lo != 0 {
		return false
	}
	for k, bits := range s.hi {
		var tb uint64
		if w := s.off + k - t.off; 0 <= w && w < len(t.hi) {
			tb = t.hi[w]
		}
		if bits&^tb != 0 {
			return false
		}
	}
	return true
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

// slotMask returns the slots that an endpoint with the given methods (nil:
// every method) allows, a bit each.
func slotMask(methods []string) uint16 {
	if methods == nil {
		return 1<<nSlots - 1
	}
	var m uint16
	for _, method := range methods {
		m |= 1 << methodSlot(method)
		if method == "GET" {
			m |= 1 << slotHEAD
		}
	}
	return m
}

// A node of the compiled catalog: a segment trie. The path from the root to
// a node spells a pattern prefix; each step is a literal segment or "*".
type node struct {
	lit  map[string]*node // children for literal segments
	star *node            // child for a "*" that is not the pattern's last segment
	end  *leaf            // patterns that end at this node
	rest *leaf            // patterns that end at this node with a trailing "*"
}

// A leaf holds what the rules of the patterns ending in one place allow.
type leaf struct {
	allow [nSlots]Set // scopes that alone allow each method slot
	// more holds, per slot, the scope sets of the rules of no scope or of
	// several scopes (each set allows if the token has all of it); nil if
	// the leaf has no such rule, as in a YAML catalog.
	more   *[nSlots][]Set
	cover  uint16  // slots some rule allows
	public uint16  // slots a public rule allows
	eps    []epRef // (scope, endpoint) of every rule, for Explain
	rules  []int32 // the rules, in catalog order
}

type epRef struct{ scope, endpoint, rule int32 }

// compile builds the trie of a catalog's rules and sets each rule's slot
// mask. The endpoints of each scope are its rules in catalog order, as
// build made them.
func compile(c *Catalog) *node {
	root := &node{}
	leaves := make([]*leaf, len(c.rules))
	var head map[*leaf]bool // leaves with a rule that names HEAD
	for ri := range c.rules {
		r := &c.rules[ri]
		segs := strings.Split(r.Pattern, "/")
		trailing := segs[len(segs)-1] == "*"
		if trailing {
			segs = segs[:len(segs)-1]
		}
		n := root
		for _, seg := range segs {
			if c.params && isParam(seg) {
				seg = "*"
			}
			n = n.child(seg)
		}
		l := &n.end
		if trailing {
			l = &n.rest
		}
		if *l == nil {
			*l = &leaf{}
		}
		leaves[ri] = *l
		if c.specific && slices.Contains(r.Methods, "HEAD") {
			if head == nil {
				head = make(map[*leaf]bool)
			}
			head[*l] = true
		}
	}
	next := make([]int32, len(c.scopes)) // the next endpoint of each scope
	for ri := range c.rules {
		r := &c.rules[ri]
		r.mask = slotMask(r.Methods)
		if head[leaves[ri]] && !slices.Contains(r.Methods, "HEAD") {
			// In a MostSpecific catalog, a pattern with rules for HEAD
			// (an OpenAPI HEAD operation, with security of its own) takes
			// HEAD by those alone.
			r.mask &^= 1 << slotHEAD
		}
		leaves[ri].add(int32(ri), r, next)
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

func (l *leaf) add(ri int32, r *rule, next []int32) {
	l.rules = append(l.rules, ri)
	for _, x := range r.idx {
		l.eps = append(l.eps, epRef{int32(x), next[x], ri})
		next[x]++
	}
	mask := r.mask
	l.cover |= mask
	if r.Public {
		l.public |= mask
	}
	if len(r.idx) != 1 && l.more == nil {
		l.more = new([nSlots][]Set)
	}
	for slot := range nSlots {
		if mask&(1<<slot) == 0 {
			continue
		}
		if len(r.idx) == 1 {
			l.allow[slot].add(r.idx[0])
		} else {
			l.more[slot] = append(l.more[slot], r.set)
		}
	}
}

// allows reports whether a rule of l allows slot to a token with scopes s.
func (l *leaf) allows(s *Set, slot int) bool {
	return l.allow[slot].intersects(s) || l.more != nil && l.allowsMore(s, slot)
}

// allowsMore reports whether a rule of l of no scope or of several allows
// slot to a token with scopes s.
func (l *leaf) allowsMore(s *Set, slot int) bool {
	for i := range l.more[slot] {
		if l.more[slot][i].subsetOf(s) {
			return true
		}
	}
	return false
}

// Allows reports whether the token's scopes s allow method on the path
// segments (from [SplitPath]): whether some rule of a pattern that matches
// the call needs only scopes in s. In a YAML catalog every rule is one
// scope's endpoint, so this is whether any scope in s allows the call; a
// catalog from [New] may also have rules that need several scopes together
// (AND) or none (then any s allows, even an empty one). With
// [Definition.MostSpecific], only the rules of the most specific pattern
// that has rules for the method count.
//
// A scope's "GET" also allows "HEAD". Methods are compared exactly, as HTTP
// methods are case-sensitive (RFC 9110 §9.1): pass r.Method; "get" is not
// "GET", and only endpoints listed without methods allow methods the
// catalog cannot name.
//
// A literal pattern segment matches a path segment equal to it, byte for
// byte, after decoding; "*" matches any one segment, including one holding
// an encoded "/"; a "*" ending a pattern matches one or more segments. No
// pattern matches the API root (zero segments).
//
// Allows does not allocate, and its cost depends on the number of segments,
// not on the number of patterns: the catalog is compiled into a trie of
// segments by [Parse] and [New].
func (c *Catalog) Allows(s Set, method string, segments []string) bool {
	if c.root == nil || s.Empty() && !c.open {
		return false
	}
	slot := methodSlot(method)
	switch {
	case c.specific:
		l := c.root.decide(slot, segments)
		return l != nil && l.allows(&s, slot)
	case c.multi:
		return c.root.allowsMulti(&s, slot, segments)
	}
	return c.root.allows(&s, slot, segments)
}

// allows is Allows for a catalog whose every rule is of one scope (as a
// YAML catalog's): a leaf allows if its scopes for the slot meet s.
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

// allowsMulti is allows for a catalog with rules of several scopes or none.
func (n *node) allowsMulti(s *Set, slot int, segs []string) bool {
	if len(segs) == 0 {
		return n.end != nil && n.end.allows(s, slot)
	}
	if n.rest != nil && n.rest.allows(s, slot) {
		return true
	}
	if c := n.lit[segs[0]]; c != nil && c.allowsMulti(s, slot, segs[1:]) {
		return true
	}
	return n.star != nil && n.star.allowsMulti(s, slot, segs[1:])
}

// decide returns the leaf of the most specific pattern that matches segs
// and has a rule for slot, or nil: a literal segment before "*", "*"
// before a trailing "*", from the left.
func (n *node) decide(slot int, segs []string) *leaf {
	if len(segs) == 0 {
		if n.end != nil && n.end.cover&(1<<slot) != 0 {
			return n.end
		}
		return nil
	}
	if c := n.lit[segs[0]]; c != nil {
		if l := c.decide(slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.star != nil {
		if l := n.star.decide(slot, segs[1:]); l != nil {
			return l
		}
	}
	if n.rest != nil && n.rest.cover&(1<<slot) != 0 {
		return n.rest
	}
	return nil
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

// decider returns the one leaf that decides a call in a MostSpecific
// catalog, or nil.
func (c *Catalog) decider(slot int, segs []string) *leaf {
	if !c.specific || c.root == nil {
		return nil
	}
	return c.root.decide(slot, segs)
}

// deciding calls fn for every leaf whose rules decide a call to segs with
// method slot: every matching leaf, or, in a MostSpecific catalog, the
// deciding one, if any.
func (c *Catalog) deciding(slot int, segs []string, fn func(*leaf)) {
	switch {
	case c.root == nil:
	case c.specific:
		if l := c.root.decide(slot, segs); l != nil {
			fn(l)
		}
	default:
		c.root.walk(segs, fn)
	}
}

// matching returns the positions of the rules that decide a call and allow
// its method, in catalog order.
func (c *Catalog) matching(method string, segs []string) []int {
	slot := methodSlot(method)
	var out []int
	c.deciding(slot, segs, func(l *leaf) {
		for _, ri := range l.rules {
			if c.rules[ri].mask&(1<<slot) != 0 {
				out = append(out, int(ri))
			}
		}
	})
	slices.Sort(out)
	return out
}

// Allowing returns the names of every scope that alone allows method on
// the path segments, in catalog order, or nil if none does. It matches as
// [Catalog.Allows] does. In a YAML catalog, where every rule is one scope's,
// these are the scopes to name in an insufficient_scope error (RFC 6750
// §3.1); [Catalog.Required] also covers rules of several scopes.
func (c *Catalog) Allowing(method string, segments []string) []string {
	slot := methodSlot(method)
	var all Set
	c.deciding(slot, segments, func(l *leaf) { all.union(l.allow[slot]) })
	var names []string
	for i, s := range c.scopes {
		if all.has(i) {
			names = append(names, s.Name)
		}
	}
	return names
}

// Required returns a set of scopes that would allow method on the path
// segments, to name in the scope attribute of an insufficient_scope error
// (RFC 6750 §3: the scopes necessary to access the resource) for a token
// whose scopes are s. If scopes alone allow the call, it is every one of
// them ([Catalog.Allowing]): a token with any one, or all, of them would be
// allowed. Otherwise it is the scopes of one rule that needs several
// together: the one that s lacks the fewest scopes of, then the one of
// fewest scopes, then the first. The names are in catalog order; nil if no
// rule of any scope allows the call.
func (c *Catalog) Required(s Set, method string, segments []string) []string {
	if alone := c.Allowing(method, segments); alone != nil {
		return alone
	}
	best, bestMissing := -1, 0
	for _, ri := range c.matching(method, segments) {
		r := &c.rules[ri]
		if len(r.idx) < 2 {
			continue
		}
		missing := 0
		for _, x := range r.idx {
			if !s.has(x) {
				missing++
			}
		}
		if best < 0 || missing < bestMissing || missing == bestMissing && len(r.idx) < len(c.rules[best].idx) {
			best, bestMissing = ri, missing
		}
	}
	if best < 0 {
		return nil
	}
	return slices.Clone(c.rules[best].Scopes)
}

// RulesFor returns the rules that decide whether method is allowed on the
// path segments, in catalog order: those of every pattern that matches (of
// the most specific one, with [Definition.MostSpecific]) that allow the
// method. A token may make the call if it has every scope of one of them.
func (c *Catalog) RulesFor(method string, segments []string) []Rule {
	var out []Rule
	for _, ri := range c.matching(method, segments) {
		out = append(out, c.rules[ri].clone())
	}
	return out
}

// Public reports whether a public rule ([Rule].Public) allows method on the
// path segments: whether the call needs no token at all. A YAML catalog has
// no public rules.
func (c *Catalog) Public(method string, segments []string) bool {
	if !c.open {
		return false
	}
	slot := methodSlot(method)
	public := false
	c.deciding(slot, segments, func(l *leaf) { public = public || l.public&(1<<slot) != 0 })
	return public
}

// An Explanation says whether one scope allows a call, and why.
//
// If Allowed, Pattern and Methods are those of the scope's first endpoint
// (in catalog order) that alone allows the call. If not, and an endpoint of
// the scope allows the call together with other scopes (an AND rule), they
// are the first such endpoint's, and With names the other scopes. If not,
// and some endpoint of the scope matches the path but not the method, they
// are that endpoint's; otherwise Pattern is "" and no endpoint of the scope
// matches the path. Methods are as in [Endpoint]: nil means every method,
// and "GET" also allows "HEAD".
type Explanation struct {
	Scope   string
	Allowed bool
	Pattern string
	Methods []string
	With    []string
}

// Explain returns an [Explanation] for every scope of the catalog, in
// catalog order, of whether and through which endpoint it allows method on
// the path segments. Allowed agrees with [Catalog.Allows] for a token of
// that one scope, except that rules of no scope ([Catalog.RulesFor] lists
// them) are no scope's. With [Definition.MostSpecific], only the endpoints
// of the pattern that decides the call count, if one does.
func (c *Catalog) Explain(method string, segments []string) []Explanation {
	out := make([]Explanation, len(c.scopes))
	for i, s := range c.scopes {
		out[i].Scope = s.Name
	}
	if c.root == nil {
		return out
	}
	// The lowest index of an endpoint allowing the call alone, of one
	// allowing it with other scopes, and of one matching only the path,
	// per scope; -1: none.
	var allowing, together, matching []int
	for _, p := range []*[]int{&allowing, &together, &matching} {
		*p = make([]int, len(c.scopes))
		for i := range *p {
			(*p)[i] = -1
		}
	}
	lower := func(cur *int, i int) {
		if *cur < 0 || i < *cur {
			*cur = i
		}
	}
	slot := methodSlot(method)
	visit := func(l *leaf) {
		for _, r := range l.eps {
			si, ei := int(r.scope), int(r.endpoint)
			e := c.scopes[si].Endpoints[ei]
			switch {
			case c.rules[r.rule].mask&(1<<slot) == 0:
				lower(&matching[si], ei)
			case e.With == nil:
				lower(&allowing[si], ei)
			default:
				lower(&together[si], ei)
			}
		}
	}
	if l := c.decider(slot, segments); l != nil {
		visit(l)
	} else {
		// No pattern decides (or every matching one does): what matches
		// the path tells which methods would be allowed.
		c.root.walk(segments, visit)
	}
	for si := range out {
		ei := allowing[si]
		out[si].Allowed = ei >= 0
		for _, alt := range []int{together[si], matching[si]} {
			if ei < 0 {
				ei = alt
			}
		}
		if ei >= 0 {
			e := c.scopes[si].Endpoints[ei]
			out[si].Pattern, out[si].Methods = e.Pattern, slices.Clone(e.Methods)
			if !out[si].Allowed {
				out[si].With = slices.Clone(e.With)
			}
		}
	}
	return out
}
