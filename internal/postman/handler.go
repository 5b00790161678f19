package postman

import (
	"log/slog"
	"net/http"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse/scope/openapi"
)

// Filename is the file name a served collection is saved as.
const Filename = "postman_collection.json"

// maxClientID bounds the client_id query parameter.
const maxClientID = 255

// Handler serves the collection of api (GET /docs/postman.json);
// ?client_id= prefills the clientId variable. The secret is never in it.
// With api nil, or a collection that cannot be built (logged once, here),
// it answers 404 with one line of text.
func Handler(api *openapi.API, opts Options, log *slog.Logger) http.Handler {
	unavailable := ""
	switch {
	case api == nil:
		unavailable = "no Postman collection: this server has no OpenAPI document of the API (api.openapi)"
	default:
		o := opts
		o.ClientID = ""
		if _, err := Export(api, o); err != nil {
			if log != nil {
				log.Warn("no Postman collection at /docs/postman.json: " + err.Error())
			}
			unavailable = "no Postman collection: the server cannot build one from its OpenAPI document (see its log)"
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unavailable != "" {
			http.Error(w, unavailable, http.StatusNotFound)
			return
		}
		o := opts
		o.ClientID = r.URL.Query().Get("client_id")
		if len(o.ClientID) > maxClientID || strings.IndexFunc(o.ClientID, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) >= 0 {
			http.Error(w, "client_id: want a client ID, at most 255 visible characters", http.StatusBadRequest)
			return
		}
		b, err := Export(api, o)
		if err != nil {
			if log != nil {
				log.Error("build the Postman collection", "err", err)
			}
			http.Error(w, "the Postman collection could not be built", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Disposition", `attachment; filename="`+Filename+`"`)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(b)
	})
}
