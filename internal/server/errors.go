package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/oauth"
)

// writeError turns an error into an RFC 6749 §5.2 response. Anything that is
// not an *oauth.Error is unexpected: it is logged and answered with a
// server_error that does not reveal the cause.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		oe = oauth.ServerError()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	switch oe.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(max(1, oe.RetryAfter)))
	}
	body, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oe.Description})
	w.WriteHeader(oe.Status)
	_, _ = w.Write(body)
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
