package scope

import (
	"fmt"
	"strings"
)

// SplitPath cleans a request path and returns its decoded segments, ready
// for [Catalog.Allows].
//
// The input is the escaped path (r.URL.EscapedPath()), already stripped of
// the API's base path, with or without a leading "/". SplitPath splits it at
// each "/" first and percent-decodes each segment on its own, exactly once,
// so "%2F" becomes a "/" inside one segment and never a segment boundary,
// and "%252F" becomes the text "%2F". Then:
//
//   - empty segments ("//") and a trailing "/" are ignored;
//   - a segment that decodes to "." is dropped, and one that decodes to ".."
//     (written "..", "%2e%2e", ".%2E", ...) removes the segment before it;
//     ".." above the root is an error;
//   - an invalid escape ("%zz", a lone "%"), NUL and other control
//     characters (bytes below 0x20 and 0x7F, raw or escaped) are errors;
//   - a segment holding a "/" or "\" (which can only come from an escape or
//     a raw "\") next to a "." or ".." part, such as "a%2F..%2Fadmin", is an
//     error: a server that decodes the "/" and cleans the path afterwards
//     would climb out of the path that was checked.
//
// "" and "/" give zero segments (the API root), and so does a path whose
// ".." segments remove every segment. The result is nil exactly when it has
// no segments.
func SplitPath(escapedPath string) ([]string, error) {
	var segs []string
	p := escapedPath
	for i := 0; i < len(p); {
		// One raw segment, p[i:j], noting whether it needs a closer look.
		j, plain := i, true
		for ; j < len(p) && p[j] != '/'; j++ {
			if c := p[j]; c == '%' || c == '\\' || c < 0x20 || c == 0x7f {
				plain = false
			}
		}
		raw := p[i:j]
		i = j + 1
		if raw == "" {
			continue
		}
		seg := raw
		if !plain {
			var problem string
			if seg, problem = unescapeSegment(raw); problem != "" {
				return nil, fmt.Errorf("invalid path %s: %s", quoteShort(escapedPath), problem)
			}
			if hiddenDotSegment(seg) {
				return nil, fmt.Errorf(`invalid path %s: segment %s has an encoded "/" or a "\" next to a "." or ".." part`,
					quoteShort(escapedPath), quoteShort(seg))
			}
		}
		switch seg {
		case ".":
			continue
		case "..":
			if len(segs) == 0 {
				return nil, fmt.Errorf(`invalid path %s: ".." goes above the root`, quoteShort(escapedPath))
			}
			segs = segs[:len(segs)-1]
			continue
		}
		if segs == nil {
			segs = make([]string, 0, strings.Count(p[i-1:], "/")+1)
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return nil, nil
	}
	return segs, nil
}

// unescapeSegment percent-decodes one raw path segment. problem says what
// is wrong with the segment, or is "".
func unescapeSegment(raw string) (seg, problem string) {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", fmt.Sprintf("invalid escape %q", raw[i:min(i+3, len(raw))])
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		b = append(b, c)
	}
	seg = string(b)
	if i := controlByte(seg); i >= 0 {
		return "", fmt.Sprintf("control character %q", seg[i])
	}
	return seg, ""
}

// controlByte returns the index of the first C0 control byte or DEL in s,
// or -1.
func controlByte(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}

// hiddenDotSegment reports whether seg, split at "/" and "\", has a "." or
// ".." part. A segment without "/" or "\" never has.
func hiddenDotSegment(seg string) bool {
	if !strings.ContainsAny(seg, `/\`) {
		return false
	}
	for part := range strings.FieldsFuncSeq(seg, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == "." || part == ".." {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
