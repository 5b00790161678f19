package admin

import (
	"fmt"
	"strings"
)

// ProblemBase is the prefix of every problem type of the admin API: URNs,
// names to compare, not addresses to fetch.
const ProblemBase = "urn:gatehouse:problem:"

// Problem types (RFC 9457 §3.1.1), one per kind of error, stable across
// releases. Compare Problem.Type with them.
const (
	ProblemInvalid         = ProblemBase + "invalid"      // 400/422: the request or a field is wrong; see Field
	ProblemMalformed       = ProblemBase + "malformed"    // 400: the body is not JSON of the expected shape
	ProblemUnauthorized    = ProblemBase + "unauthorized" // 401: no valid access token
	ProblemForbidden       = ProblemBase + "forbidden"    // 403: the token's scopes do not allow the call
	ProblemNotFound        = ProblemBase + "not-found"    // 404
	ProblemMethod          = ProblemBase + "method-not-allowed"
	ProblemConflict        = ProblemBase + "conflict"            // 409: e.g. the client ID is taken
	ProblemPrecondition    = ProblemBase + "precondition-failed" // 412: If-Match names an older version
	ProblemTooLarge        = ProblemBase + "too-large"           // 413
	ProblemUnsupportedType = ProblemBase + "unsupported-media-type"
	ProblemIdempotency     = ProblemBase + "idempotency-key" // 409/422: the key is in use or was used for another request
	ProblemUnavailable     = ProblemBase + "unavailable"     // 503: the store cannot be reached; retry
	ProblemInternal        = ProblemBase + "internal"        // 500
)

// Problem is an RFC 9457 problem detail, the body of every error response
// of the admin API (Content-Type application/problem+json). It is the
// error the client returns for such a response.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the member of the request that is wrong, as a JSON
	// pointer (RFC 6901), e.g. "/scopes/1"; or a query parameter or
	// header, e.g. "cursor", "If-Match".
	Field string `json:"field,omitempty"`
	// Errors lists every problem with the request body at once, when there
	// are several.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one problem with a field of the request.
type FieldError struct {
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	if p.Field != "" {
		fmt.Fprintf(&b, " (%s)", p.Field)
	}
	return b.String()
}
