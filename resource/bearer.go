package resource

import "strings"

// maxTokenLen bounds the bearer tokens accepted; Gatehouse's are well under
// 2 KiB.
const maxTokenLen = 16 << 10

type bearerResult int

const (
	bearerOK        bearerResult = iota
	bearerNone                   // no credentials, or another scheme (RFC 6750 §3.1: no error code)
	bearerMalformed              // the Bearer scheme with a malformed token
)

// bearerToken extracts the token from an Authorization header value
// (RFC 6750 §2.1):
//
//	credentials = "Bearer" 1*SP b64token
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// The scheme is case-insensitive (RFC 9110 §11.1). An empty value or another
// scheme is bearerNone.
func bearerToken(v string) (string, bearerResult) { return schemeToken(v, "bearer") }

// schemeToken is bearerToken for the scheme named (in lower case): "bearer"
// or "dpop" (RFC 9449 §7.1, the same token68 syntax).
func schemeToken(v, scheme string) (string, bearerResult) {
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", bearerNone
	}
	rest := v[len(scheme):]
	if rest == "" {
		return "", bearerMalformed // "Bearer" alone
	}
	switch rest[0] {
	case ' ':
	case '\t':
		return "", bearerMalformed
	default:
		return "", bearerNone // another scheme, e.g. "BearerToken x"
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" || len(rest) > maxTokenLen {
		return "", bearerMalformed
	}
	i := 0
	for i < len(rest) && b64TokenChars[rest[i]] {
		i++
	}
	if i == 0 {
		return "", bearerMalformed
	}
	for j := i; j < len(rest); j++ {
		if rest[j] != '=' {
			return "", bearerMalformed
		}
	}
	return rest, bearerOK
}

// b64TokenChars holds the bytes of b64token but "=" (ALPHA, DIGIT and
// "-._~+/"). Every request's token is scanned with it, and a table is
// several times faster than comparisons per byte for a token of hundreds
// of bytes.
var b64TokenChars = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isB64TokenChar(byte(c))
	}
	return t
}()

func isB64TokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
