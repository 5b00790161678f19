package scope

import (
	"fmt"
	"strings"
)

// SplitPath cleans a request path and returns its decoded segments, ready
// for [Catalog.Allows], under the default (strict) [PathRules]. It is
// PathRules{}.Split(escapedPath).
func SplitPath(escapedPath string) ([]string, error) {
	return PathRules{}.Split(escapedPath)
}

// PathRules say which percent-encodings [PathRules.Split] accepts. The zero
// value is the strict default that [SplitPath] applies.
//
// Some spellings of a path are read differently by different servers: an
// encoded "/" ("%2F") is a separator to a server that decodes the path
// before routing and part of a segment to one that does not; "\" is a
// separator to some; "%2E%2E" is ".." to a server that decodes before
// cleaning; "%252F" is "/" to one that decodes twice. A path checked as one
// thing and routed as another escapes the check, so by default such paths
// are refused rather than guessed at.
type PathRules struct {
	// AllowEncodedSlash accepts "%2F" (or "%2f") in a path segment, for APIs
	// whose identifiers contain "/". It stays part of that one segment (so
	// only a "*" pattern segment can match it), never a boundary; a gateway
	// must pass it on still encoded. A segment that hides a "." or ".."
	// behind it ("a%2F..%2Fb") is still refused.
	AllowEncodedSlash bool
}

// Split cleans a request path and returns its decoded segments, ready for
// [Catalog.Allows].
//
// The input is the escaped path (r.URL.EscapedPath()), already stripped of
// the API's base path, with or without a leading "/". Split splits it at
// each "/" first and percent-decodes each segment on its own, exactly once.
// Then:
//
//   - empty segments ("//") and a trailing "/" are ignored;
//   - a "." segment is dropped, and a ".." segment removes the segment
//     before it; ".." above the root is an error;
//   - these are errors, as servers disagree on what they mean: an encoded
//     "/" ("%2F", unless AllowEncodedSlash), a "\" (raw or "%5C"), an
//     encoded "." or ".." segment ("%2e", ".%2E", ...) and double encoding
//     ("%25" followed by two hex digits, such as "%252F");
//   - an invalid escape ("%zz", a lone "%"), NUL and other control
//     characters (bytes below 0x20 and 0x7F, raw or escaped) are errors;
//   - with AllowEncodedSlash, a segment holding a "/" next to a "." or ".."
//     part, such as "a%2F..%2Fadmin", is an error: a server that decodes
//     the "/" and cleans the path afterwards would climb out of the path
//     that was checked.
//
// "" and "/" give zero segments (the API root), and so does a path whose
// ".." segments remove every segment. The result is nil exactly when it has
// no segments.
func (pr PathRules) Split(escapedPath string) ([]string, error) {
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
			if seg, problem = pr.unescapeSegment(raw); problem != "" {
				return nil, fmt.Errorf("invalid path %s: %s", quoteShort(escapedPath), problem)
			}
			if hiddenDotSegment(seg) {
				return nil, fmt.Errorf(`invalid path %s: segment %s has an encoded "/" next to a "." or ".." part`,
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
func (pr PathRules) unescapeSegment(raw string) (seg, problem string) {
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '\\':
			return "", `"\" in a segment (some servers take it for "/")`
		case '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", fmt.Sprintf("invalid escape %q", raw[i:min(i+3, len(raw))])
			}
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			switch {
			case c == '/' && !pr.AllowEncodedSlash:
				return "", fmt.Sprintf(`encoded "/" (%q): servers disagree on whether it separates segments`, raw[i:i+3])
			case c == '\\':
				return "", fmt.Sprintf(`encoded "\" (%q) (some servers take it for "/")`, raw[i:i+3])
			case c == '%' && i+4 < len(raw) && isHex(raw[i+3]) && isHex(raw[i+4]):
				return "", fmt.Sprintf("double encoding (%q): a server that decodes twice would see %q",
					raw[i:i+5], string(unhex(raw[i+3])<<4|unhex(raw[i+4])))
			}
			i += 2
		}
		b = append(b, c)
	}
	seg = string(b)
	if i := controlByte(seg); i >= 0 {
		return "", fmt.Sprintf("control character %q", seg[i])
	}
	if seg == "." || seg == ".." {
		return "", fmt.Sprintf("encoded dot segment %q: servers disagree on whether to resolve it", raw)
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

// hiddenDotSegment reports whether seg, split at "/", has a "." or ".."
// part. A segment without "/" never has.
func hiddenDotSegment(seg string) bool {
	if strings.IndexByte(seg, '/') < 0 {
		return false
	}
	for part := range strings.SplitSeq(seg, "/") {
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
