package clients

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/store"
)

// TestQuotaAndReuseSettings: a client's quotas and reuse window are stored,
// changed and audited; values outside their range are refused.
func TestQuotaAndReuseSettings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _, err := f.svc.Create(ctx, "tester", Spec{Name: "Busy", QuotaPerMinute: 60, QuotaPerHour: store.QuotaNone, ReuseMinRemaining: 50})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Get(ctx, c.ID)
	if got.QuotaPerMinute != 60 || got.QuotaPerHour != store.QuotaNone || got.ReuseMinRemaining != 50 {
		t.Errorf("stored: got %d/min, %d/h, reuse %d; want 60, -1, 50", got.QuotaPerMinute, got.QuotaPerHour, got.ReuseMinRemaining)
	}
	ev, _ := f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "quota per minute 60, quota per hour none, token reuse window 50% of the lifetime left") {
		t.Errorf("create audit: got %+v", ev)
	}
	zero, off := 0, store.ReuseOff
	if _, err := f.svc.Update(ctx, "tester", c.ID, Patch{QuotaPerMinute: &zero, ReuseMinRemaining: &off}); err != nil {
		t.Fatal(err)
	}
	got, _ = f.svc.Get(ctx, c.ID)
	if got.QuotaPerMinute != 0 || got.ReuseMinRemaining != store.ReuseOff {
		t.Errorf("updated: got %d/min, reuse %d; want 0, -1", got.QuotaPerMinute, got.ReuseMinRemaining)
	}
	ev, _ = f.st.ListAudit(ctx, store.AuditFilter{Target: c.ID, Action: "client.update"})
	if len(ev) != 1 || !strings.Contains(ev[0].Detail, "quota per minute the server's default") || !strings.Contains(ev[0].Detail, "token reuse window off") {
		t.Errorf("update audit: got %+v", ev)
	}
	for _, sp := range []Spec{
		{Name: "x", QuotaPerMinute: -2},
		{Name: "x", QuotaPerMinute: 10, QuotaPerHour: 5},
		{Name: "x", ReuseMinRemaining: 100},
		{Name: "x", ReuseMinRemaining: -2},
	} {
		var ve *ValidationError
		if _, _, err := f.svc.Create(ctx, "tester", sp); !errors.As(err, &ve) {
			t.Errorf("Create(%+v): got %v, want a validation error", sp, err)
		}
	}
}
