package adminapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
)

// PathOpenAPI is where the OpenAPI 3.1 document of the API is served.
const PathOpenAPI = Prefix + "/openapi.json"

// openAPI is the OpenAPI 3.1 document of the whole API, written by hand.
// openapi_test.go keeps it true: every route the API mounts is in it (and
// every operation in it is mounted or listed as still being built), the
// scopes of each operation are the system catalog's, its schemas have the
// members of the admin package's types, and real responses validate
// against it. .ci/run lints it (redocly.yaml).
//
//go:embed openapi.json
var openAPI []byte

// openAPIETag is the document's entity tag: it changes only with the
// binary.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPI)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}()

// serveOpenAPI serves the document to anyone: API tools fetch it before
// they have a token, and it holds no secrets. It is application/json, the
// type every tool and browser reads as JSON (not every tool knows the
// proposed application/openapi+json). Caches may keep it but revalidate it
// first (no-cache), cheaply with If-None-Match, so an upgrade shows at
// once.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, problem(admin.ProblemMethod, http.StatusMethodNotAllowed, "",
			r.Method+" is not allowed here; allowed: GET, HEAD"))
		return
	}
	h := w.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "no-cache")
	if noneMatch(r, openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPI)))
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(openAPI)
}

// noneMatch reports whether the request's If-None-Match (RFC 9110
// §13.1.2) names tag or is "*": the client's copy is current. The
// comparison is weak, as that section says.
func noneMatch(r *http.Request, tag string) bool {
	for _, v := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == tag {
				return true
			}
		}
	}
	return false
}
