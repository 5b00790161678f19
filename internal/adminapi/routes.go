package adminapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/admin"
)

// routes mounts every endpoint. Which token may call which path and
// method is decided before, by the guard against the system catalog
// (system.go); handleTenant marks the routes a token restricted to an
// account may also use.
func (a *API) routes() {
	a.clientRoutes()
	a.otherRoutes()
	a.usageRoutes()
	// Every other method on a known path is 405 with Allow; every unknown
	// path is 404: both as problems.
	for path, methods := range a.methods {
		allow := strings.Join(methods, ", ")
		a.mux.HandleFunc(Prefix+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeProblem(w, problem(admin.ProblemMethod, http.StatusMethodNotAllowed, "",
				r.Method+" is not allowed here; allowed: "+allow))
		})
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, notFound("no such endpoint: "+r.URL.Path))
	})
}

// handleTenant mounts h for every caller the guard lets through.
func (a *API) handleTenant(pattern string, h handlerFunc) { a.mount(pattern, h, true) }

// handle mounts h for callers whose token is not restricted to an account.
func (a *API) handle(pattern string, h handlerFunc) { a.mount(pattern, h, false) }

func (a *API) mount(pattern string, h handlerFunc, tenants bool) {
	method, path, _ := strings.Cut(pattern, " ")
	if a.methods == nil {
		a.methods = make(map[string][]string)
	}
	if !slices.Contains(a.methods[path], method) {
		a.methods[path] = append(a.methods[path], method)
		if method == http.MethodGet {
			a.methods[path] = append(a.methods[path], http.MethodHead)
		}
	}
	a.mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		c := callerFrom(r.Context())
		err := error(nil)
		if c.account != "" && !tenants {
			err = forbidden("a token restricted to an account may manage only that account's clients")
		} else {
			err = h(w, r, c)
		}
		if err != nil {
			a.writeError(w, r, err)
		}
		a.log.Info("admin API", "method", r.Method, "path", r.URL.Path, "client", c.clientID, "account", c.account)
	})
}
