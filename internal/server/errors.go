package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/store"
)

// retryAfter is the Retry-After of a 503 for an unreachable store.
var retryAfter = int(store.RetryAfter / time.Second)

// oauthError turns an error into the OAuth error to answer with. A store
// that cannot be reached (store.ErrUnavailable) is temporarily_unavailable
// (503 with Retry-After). Anything else that is not an *oauth.Error is
// unexpected: it is logged and becomes a server_error that does not reveal
// the cause.
func (s *Server) oauthError(r *http.Request, err error) *oauth.Error {
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.Is(err, store.ErrUnavailable):
		s.log.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		return oauth.TemporarilyUnavailable(retryAfter)
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return oauth.ServerError()
}

// writeError turns an error into an RFC 6749 §5.2 response (see oauthError).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	oe := s.oauthError(r, err)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	setRetryAfter(h, oe)
	switch {
	case oe.Status == http.StatusUnauthorized && oe.Code == oauth.CodeInvalidToken:
		// A bearer token of the registration endpoint (RFC 6750 §3).
		h.Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
	case oe.Status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oe.Description})
	w.WriteHeader(oe.Status)
	_, _ = w.Write(body)
}

// setRetryAfter sets Retry-After for a 429 or 503.
func setRetryAfter(h http.Header, oe *oauth.Error) {
	if oe.Status == http.StatusTooManyRequests || oe.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", strconv.Itoa(max(1, oe.RetryAfter)))
	}
}

// writeJSON writes v as a JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}
