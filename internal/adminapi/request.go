package adminapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
)

// readJSON decodes the request body, a JSON object, into v: an unknown
// member, a member of the wrong type or trailing data is a 400 naming the
// member. types are the media types accepted (default application/json).
func readJSON(r *http.Request, v any, types ...string) error {
	if err := checkContentType(r, types...); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return problem(admin.ProblemMalformed, http.StatusBadRequest, "", "the body holds more than one JSON value")
	}
	return nil
}

func checkContentType(r *http.Request, types ...string) error {
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil {
		for _, t := range types {
			if mt == t {
				return nil
			}
		}
	}
	return problem(admin.ProblemUnsupportedType, http.StatusUnsupportedMediaType, "Content-Type",
		"send the body as "+strings.Join(types, " or "))
}

// jsonProblem turns a decoding error into a 400 naming the member.
func jsonProblem(err error) error {
	var (
		mb *http.MaxBytesError
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mb):
		return err
	case errors.Is(err, io.EOF):
		return problem(admin.ProblemMalformed, http.StatusBadRequest, "", "the body is empty; send a JSON object")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return problem(admin.ProblemMalformed, http.StatusBadRequest, "", "the body is not valid JSON: "+err.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return problem(admin.ProblemMalformed, http.StatusBadRequest, "", "the body must be a JSON object")
		}
		return problem(admin.ProblemMalformed, http.StatusBadRequest, pointer(te.Field), "must be a JSON "+jsonKind(te.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem(admin.ProblemMalformed, http.StatusBadRequest, pointer(name), "unknown member "+name)
	}
	return problem(admin.ProblemMalformed, http.StatusBadRequest, "", err.Error())
}

// pointer turns encoding/json's dotted field path into a JSON pointer.
func pointer(field string) string { return "/" + strings.ReplaceAll(field, ".", "/") }

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}
