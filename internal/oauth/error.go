// Package oauth holds the OAuth 2.0 protocol error type of Gatehouse's
// authorization server: the RFC 6749 §5.2 / RFC 7009 errors that
// internal/server writes (writeError) and the grants return.
//
// It is internal on purpose. The other error surface, the resource
// server's RFC 6750 errors (a WWW-Authenticate challenge plus a JSON body,
// with 401/403/503 and its own codes such as invalid_token and
// insufficient_scope), is written by the public package resource, which
// needs none of this type: only a few code strings, which it defines
// itself. Clients read token-endpoint errors with golang.org/x/oauth2's
// RetrieveError. So nothing outside the server needs this package, and
// keeping it internal keeps Gatehouse's public surface to scope and
// resource.
package oauth

import (
	"fmt"
	"net/http"
)

// Error codes from RFC 6749 §4.1.2.1 and §5.2 and RFC 7009 §2.2.1.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeInvalidScope            = "invalid_scope"
	CodeUnsupportedTokenType    = "unsupported_token_type"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
	// CodeInvalidTarget is RFC 8707 §2's: the resource parameter names a
	// resource that is unknown, malformed or not allowed.
	CodeInvalidTarget = "invalid_target"
	// RFC 7591 §3.2.2 (dynamic client registration).
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// RFC 6750 §3.1: a bearer token (an initial or registration access
	// token, RFC 7591 §3, RFC 7592 §3) is missing, unknown or expired.
	CodeInvalidToken = "invalid_token"
)

// Error is an OAuth 2.0 error response (RFC 6749 §5.2). Constructors return
// fresh values so callers may set fields without affecting others.
type Error struct {
	Code        string // RFC error code, e.g. invalid_request
	Description string // human-readable, safe to show to the client
	Status      int    // HTTP status
	RetryAfter  int    // seconds; set with 429 and 503
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func newError(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// InvalidRequest: malformed request (400).
func InvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, format, args...)
}

// InvalidClient: client authentication failed (401).
func InvalidClient(format string, args ...any) *Error {
	return newError(CodeInvalidClient, http.StatusUnauthorized, format, args...)
}

// InvalidGrant: the grant is invalid, expired or revoked (400).
func InvalidGrant(format string, args ...any) *Error {
	return newError(CodeInvalidGrant, http.StatusBadRequest, format, args...)
}

// UnauthorizedClient: the client may not use this grant type (400).
func UnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, http.StatusBadRequest, format, args...)
}

// UnsupportedGrantType: the server does not support the grant type (400).
func UnsupportedGrantType(format string, args ...any) *Error {
	return newError(CodeUnsupportedGrantType, http.StatusBadRequest, format, args...)
}

// InvalidScope: the requested scope is invalid or not allowed (400).
func InvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, http.StatusBadRequest, format, args...)
}

// InvalidTarget: the requested resource (RFC 8707 §2) is invalid,
// unknown, or not one the client may use or was granted (400).
func InvalidTarget(format string, args ...any) *Error {
	return newError(CodeInvalidTarget, http.StatusBadRequest, format, args...)
}

// UnsupportedTokenType: revocation of this token type is not supported (400, RFC 7009).
func UnsupportedTokenType(format string, args ...any) *Error {
	return newError(CodeUnsupportedTokenType, http.StatusBadRequest, format, args...)
}

// InvalidRedirectURI: a registration's redirect URI is not allowed (400,
// RFC 7591 §3.2.2).
func InvalidRedirectURI(format string, args ...any) *Error {
	return newError(CodeInvalidRedirectURI, http.StatusBadRequest, format, args...)
}

// InvalidClientMetadata: a registration's metadata is invalid or not
// allowed (400, RFC 7591 §3.2.2).
func InvalidClientMetadata(format string, args ...any) *Error {
	return newError(CodeInvalidClientMetadata, http.StatusBadRequest, format, args...)
}

// InvalidToken: the bearer token that authorizes a registration request
// is missing, unknown, expired or used up (401, RFC 6750 §3.1); the
// server answers with a Bearer challenge.
func InvalidToken(format string, args ...any) *Error {
	return newError(CodeInvalidToken, http.StatusUnauthorized, format, args...)
}

// ServerError: an unexpected condition (500). The description never carries the cause.
func ServerError() *Error {
	return &Error{Code: CodeServerError, Status: http.StatusInternalServerError, Description: "internal error"}
}

// TooManyRequests: the caller is rate-limited (429 with Retry-After).
func TooManyRequests(retryAfter int) *Error {
	return &Error{Code: CodeInvalidRequest, Status: http.StatusTooManyRequests, RetryAfter: retryAfter,
		Description: "too many failed attempts; retry later"}
}

// TemporarilyUnavailable: the server cannot handle the request now, e.g.
// its database is unreachable (503 with Retry-After; RFC 6749 §4.1.2.1).
func TemporarilyUnavailable(retryAfter int) *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable, RetryAfter: retryAfter,
		Description: "the service is temporarily unavailable; retry later"}
}

// MethodNotAllowed: wrong HTTP method (405).
func MethodNotAllowed(method string) *Error {
	return newError(CodeInvalidRequest, http.StatusMethodNotAllowed, "method %s not allowed", method)
}
