package console_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
)

// TestAppQuota: the app form sets the quotas and the reuse window (empty:
// the server's default), refuses what is not a number, and the app page
// shows the quotas in force with their use.
func TestAppQuota(t *testing.T) {
	a := newAdminHarness(t, func(o *console.Options) {
		o.Quota = func(_ context.Context, c store.Client) (console.QuotaUsage, error) {
			return console.QuotaUsage{PerMinute: c.QuotaPerMinute, PerHour: 1000, UsedMinute: 7, UsedHour: 42}, nil
		}
	})
	form := url.Values{"name": {"Busy"}, "client_id": {"busy"}, "grant_types": {"client_credentials"},
		"quota_per_minute": {"60"}, "quota_per_hour": {""}, "reuse_min_remaining": {"50"}}
	r := a.postForm("/console/apps/new", "/console/apps/new", form)
	wantCode(t, "create with a quota", r, http.StatusSeeOther)
	c, _ := a.clients.Get(context.Background(), "busy")
	if c.QuotaPerMinute != 60 || c.QuotaPerHour != 0 || c.ReuseMinRemaining != 50 {
		t.Errorf("created: got %d/min, %d/h, reuse %d; want 60, 0, 50", c.QuotaPerMinute, c.QuotaPerHour, c.ReuseMinRemaining)
	}
	wantBody(t, "app page", a.get("/console/apps/busy"), `name="quota_per_minute" value="60"`, `name="reuse_min_remaining" value="50"`,
		"7 of 60 this minute, 42 of 1000 this hour")
	r = a.postForm("/console/apps/busy", "/console/apps/busy", url.Values{"name": {"Busy"}, "grant_types": {"client_credentials"},
		"quota_per_minute": {"lots"}})
	wantCode(t, "edit with a word", r, http.StatusUnprocessableEntity)
	wantBody(t, "edit with a word", r, "is not a whole number")
	r = a.postForm("/console/apps/busy", "/console/apps/busy", url.Values{"name": {"Busy"}, "grant_types": {"client_credentials"},
		"reuse_min_remaining": {"-1"}})
	wantCode(t, "edit", r, http.StatusSeeOther)
	if c, _ := a.clients.Get(context.Background(), "busy"); c.QuotaPerMinute != 0 || c.ReuseMinRemaining != store.ReuseOff {
		t.Errorf("after the edit: got %d/min, reuse %d; want 0 (default), -1", c.QuotaPerMinute, c.ReuseMinRemaining)
	}
}
