package adminapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/usage"
)

// Usage per credential: gateways report (POST /usage, scope
// gatehouse:usage), operators read a client's usage
// (GET /clients/{client}/usage, like GET /clients/{client}).
func (a *API) usageRoutes() {
	a.handleTenant("GET /clients/{client}/usage", a.clientUsage)
	a.handle("POST /usage", a.reportUsage)
}

// errUsageOff is the problem of a usage route while usage.enabled is false.
func errUsageOff() *admin.Problem {
	return notFound("usage is not recorded on this server (usage.enabled is false)")
}

// GET /clients/{client}/usage?days=N
func (a *API) clientUsage(w http.ResponseWriter, r *http.Request, c *caller) error {
	if a.o.Usage == nil {
		return errUsageOff()
	}
	cl, err := a.getClient(r, c, r.PathValue("client"))
	if err != nil {
		return err
	}
	days := 0
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > usage.MaxDays {
			return badRequest("days", "days must be a whole number from 1 to "+strconv.Itoa(usage.MaxDays))
		}
		days = n
	}
	u, err := a.o.Usage.ClientUsage(r.Context(), cl.ID, days)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// POST /usage: a gateway's report (admin.UsageReport).
func (a *API) reportUsage(w http.ResponseWriter, r *http.Request, c *caller) error {
	if a.o.Usage == nil {
		return errUsageOff()
	}
	var rep admin.UsageReport
	if err := readJSON(r, &rep); err != nil {
		return err
	}
	if err := a.o.Usage.Report(r.Context(), rep); err != nil {
		if errors.Is(err, usage.ErrInvalidReport) {
			return badRequest("calls", err.Error())
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
