package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/resource"
)

// problemType is the content type of every error response.
const problemType = "application/problem+json"

// writeProblem writes p, filling in its title from the status.
func writeProblem(w http.ResponseWriter, p *admin.Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	h := w.Header()
	h.Set("Content-Type", problemType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	body, _ := json.Marshal(p) // strings and ints only
	w.Write(append(body, '\n'))
}

// problem returns a problem of the type and status.
func problem(typ string, status int, field, detail string) *admin.Problem {
	return &admin.Problem{Type: typ, Status: status, Field: field, Detail: detail}
}

func invalid(field, detail string) *admin.Problem {
	return problem(admin.ProblemInvalid, http.StatusUnprocessableEntity, field, detail)
}

func badRequest(field, detail string) *admin.Problem {
	return problem(admin.ProblemInvalid, http.StatusBadRequest, field, detail)
}

func notFound(detail string) *admin.Problem {
	return problem(admin.ProblemNotFound, http.StatusNotFound, "", detail)
}

func forbidden(detail string) *admin.Problem {
	return problem(admin.ProblemForbidden, http.StatusForbidden, "", detail)
}

// writeError writes err as a problem: an *admin.Problem as it is, the
// services' errors by kind, anything else as a 500 that is logged and not
// described.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		p  *admin.Problem
		cv *clients.ValidationError
		uv *users.ValidationError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &p):
	case errors.As(err, &cv):
		p = validation(cv.Problems)
	case errors.As(err, &uv):
		p = validation(uv.Problems)
	case errors.As(err, &mb):
		p = problem(admin.ProblemTooLarge, http.StatusRequestEntityTooLarge, "", "the request body is larger than "+strconv.Itoa(maxBody>>10)+" KiB")
	case errors.Is(err, clients.ErrNoSuchSecret):
		p = notFound("the client has no such secret")
	case errors.Is(err, store.ErrNotFound):
		p = notFound("no such " + resourceName(r))
	case errors.Is(err, users.ErrLastAdmin):
		p = problem(admin.ProblemConflict, http.StatusConflict, "", "no other enabled administrator would be left")
	case errors.Is(err, store.ErrConflict):
		p = problem(admin.ProblemConflict, http.StatusConflict, "", err.Error())
	case errors.Is(err, store.ErrUnavailable):
		w.Header().Set("Retry-After", strconv.Itoa(int(store.RetryAfter/time.Second)))
		p = problem(admin.ProblemUnavailable, http.StatusServiceUnavailable, "", "the database cannot be reached; retry")
	default:
		a.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "err", err)
		p = problem(admin.ProblemInternal, http.StatusInternalServerError, "", "")
	}
	writeProblem(w, p)
}

// validation is the problem of a request the services refused.
func validation(problems []string) *admin.Problem {
	p := invalid("", problems[0])
	if len(problems) > 1 {
		p.Detail = strconv.Itoa(len(problems)) + " problems; see errors"
		for _, d := range problems {
			p.Errors = append(p.Errors, admin.FieldError{Detail: d})
		}
	}
	return p
}

// resourceName names what the request path is about, for a 404.
func resourceName(r *http.Request) string {
	switch {
	case r.PathValue("secret") != "":
		return "secret"
	case r.PathValue("client") != "":
		return "client"
	case r.PathValue("user") != "":
		return "user"
	case r.PathValue("consent") != "":
		return "consent"
	case r.PathValue("token_id") != "":
		return "initial access token"
	}
	return "resource"
}

// refused writes the guard's refusals as problems.
func (a *API) refused(w http.ResponseWriter, r *http.Request, ref resource.Refusal) {
	p := &admin.Problem{Status: ref.Status, Detail: ref.Description}
	switch ref.Status {
	case http.StatusUnauthorized:
		p.Type = admin.ProblemUnauthorized
	case http.StatusForbidden:
		p.Type = admin.ProblemForbidden
		if ref.Scope != "" {
			p.Detail = "the token's scopes do not allow " + r.Method + " " + r.URL.Path + "; it needs one of: " + ref.Scope
		}
	case http.StatusNotFound:
		p.Type = admin.ProblemNotFound
	case http.StatusServiceUnavailable:
		p.Type = admin.ProblemUnavailable
	default:
		p.Type = admin.ProblemInvalid
	}
	writeProblem(w, p)
}
