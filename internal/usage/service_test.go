package usage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/usage"
)

func newService(t *testing.T, now time.Time) (*usage.Service, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateClient(context.Background(), store.Client{ID: "app", Name: "app", CreatedAt: now, UpdatedAt: now},
		store.AuditEvent{Time: now, Actor: "test", Action: "client.create", Target: "app"}); err != nil {
		t.Fatal(err)
	}
	return usage.New(usage.Options{Store: st, Now: func() time.Time { return now }}), st
}

func TestReportChecks(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	svc, _ := newService(t, now)
	ctx := context.Background()
	bad := []admin.UsageCalls{
		{ClientID: "app", Pattern: "", Allowed: 1},
		{ClientID: "app", Pattern: strings.Repeat("x", 513), Allowed: 1},
		{ClientID: "app", Pattern: "a\nb", Allowed: 1},
		{ClientID: strings.Repeat("c", 257), Pattern: "*", Allowed: 1},
		{ClientID: "app", Pattern: "*", Allowed: -1},
		{ClientID: "app", Pattern: "*", Denied: map[string]int64{"expired": -1}},
	}
	for _, c := range bad {
		if err := svc.Report(ctx, admin.UsageReport{Calls: []admin.UsageCalls{c}}); !errors.Is(err, usage.ErrInvalidReport) {
			t.Errorf("Report(%+v): got %v, want ErrInvalidReport", c, err)
		}
	}
	if err := svc.Report(ctx, admin.UsageReport{Calls: make([]admin.UsageCalls, usage.MaxReportCalls+1)}); !errors.Is(err, usage.ErrInvalidReport) {
		t.Errorf("a report over %d pairs: got %v, want ErrInvalidReport", usage.MaxReportCalls, err)
	}
	u, err := svc.ClientUsage(ctx, "app", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Calls) != 0 {
		t.Errorf("refused reports wrote %+v, want nothing", u.Calls)
	}

	// A last-seen time in the future counts as now; an unknown reason as other.
	if err := svc.Report(ctx, admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "app", Pattern: "*", Allowed: 2, Denied: map[string]int64{"made_up": 3}, LastSeen: now.Add(72 * time.Hour)},
	}}); err != nil {
		t.Fatal(err)
	}
	if u, err = svc.ClientUsage(ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	if len(u.Calls) != 1 || u.Calls[0].Allowed != 2 || u.Calls[0].Denied[usage.OtherReason] != 3 || !u.Calls[0].LastSeen.Equal(now) {
		t.Errorf("usage today: got %+v, want 2 allowed, 3 other, last seen now", u.Calls)
	}
}
