package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/registration"
)

// PathRegister is the dynamic client registration endpoint (RFC 7591 §3);
// PathRegister + "/{client_id}" is a registration's client configuration
// endpoint (RFC 7592 §2).
const PathRegister = "/oauth/register"

// maxRegistrationBody bounds a registration or update request's body.
const maxRegistrationBody = 32 << 10

// registerClient is the client registration endpoint (RFC 7591 §3): the body is
// the client's metadata as JSON; the answer 201 with the client
// information, its secret and its registration access token, shown once.
func (s *Server) registerClient(w http.ResponseWriter, r *http.Request) error {
	addr := s.clientIP.Addr(r)
	if s.registration.Policy() == registration.Open {
		if wait, over := s.regLimiter.Spend(addr, s.now()); over {
			return &oauth.Error{Code: oauth.CodeInvalidRequest, Status: http.StatusTooManyRequests, RetryAfter: int(wait.Seconds()),
				Description: "too many registrations from this address; retry later"}
		}
	}
	token, err := bearer(r)
	if err != nil {
		return err
	}
	var md registration.Metadata
	if err := readJSON(r, &md); err != nil {
		return err
	}
	reg, err := s.registration.Register(r.Context(), md, token, addr)
	if err != nil {
		return err
	}
	s.clients.invalidate(reg.Client.ID) // a cached "unknown" from before
	info := registration.Info(reg.Client, s.registrationURI(reg.Client.ID), reg.RegistrationToken, reg.Secret)
	return writeJSON(w, http.StatusCreated, info)
}

// readRegistration answers the client's read request (RFC 7592 §2.1).
func (s *Server) readRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	c, err := s.registration.Authorize(r.Context(), id, token)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registration.Info(c, s.registrationURI(c.ID), token, ""))
}

// updateRegistration answers the client's update request (RFC 7592 §2.2).
func (s *Server) updateRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	// The token first: a caller without it learns nothing from the body.
	if _, err := s.registration.Authorize(r.Context(), id, token); err != nil {
		return err
	}
	var req registration.Request
	if err := readJSON(r, &req); err != nil {
		return err
	}
	c, err := s.registration.Update(r.Context(), id, token, req)
	if err != nil {
		return err
	}
	s.clients.invalidate(c.ID)
	return writeJSON(w, http.StatusOK, registration.Info(c, s.registrationURI(c.ID), token, ""))
}

// deleteRegistration answers the client's delete request (RFC 7592 §2.3):
// 204, and the client, its secrets, consents and tokens are gone.
func (s *Server) deleteRegistration(w http.ResponseWriter, r *http.Request) error {
	token, err := bearer(r)
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	if err := s.registration.Delete(r.Context(), id, token); err != nil {
		return err
	}
	s.clients.invalidate(id)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) registrationURI(clientID string) string {
	return strings.TrimSuffix(s.issuer, "/") + PathRegister + "/" + clientID
}

// bearer returns the bearer token of the Authorization header (RFC 6750
// §2.1), "" if there is none; a header of another scheme, or more than one,
// is invalid_request.
func bearer(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", nil
	case len(hs) > 1:
		return "", oauth.InvalidRequest("more than one Authorization header")
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	tok = strings.TrimLeft(tok, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", oauth.InvalidToken("send the token as Authorization: Bearer TOKEN")
	}
	return tok, nil
}

// readJSON reads a JSON object body of at most maxRegistrationBody bytes
// into v. Metadata it does not know are ignored (RFC 7591 §2); a known one
// of the wrong type is invalid_client_metadata.
func readJSON(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return oauth.InvalidRequest("the body must be JSON, sent with Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRegistrationBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return oauth.InvalidRequest("request body exceeds %d KiB", maxRegistrationBody>>10)
		}
		return oauth.InvalidRequest("reading request body: %v", err)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return oauth.InvalidClientMetadata("the body must be a JSON object of client metadata")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return oauth.InvalidClientMetadata("%s has the wrong type: want %s", te.Field, te.Type)
		}
		return oauth.InvalidClientMetadata("the body is not valid JSON")
	}
	return nil
}
