package console

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/usage"
)

// appUsage is the app page's usage section: the last usage.DefaultDays
// days, as the admin API's GET /clients/{id}/usage shows them; nil when
// usage is off.
func (c *Console) appUsage(r *http.Request, cl store.Client) (*admin.ClientUsage, error) {
	if c.usage == nil {
		return nil, nil
	}
	u, err := c.usage.ClientUsage(r.Context(), cl.ID, usage.DefaultDays)
	if err != nil {
		return nil, fmt.Errorf("usage of %q: %w", cl.ID, err)
	}
	return &u, nil
}
