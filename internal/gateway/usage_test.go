package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/resource"
)

// newUsageGateway is a gateway with usage on in front of an upstream that
// answers 200, and its recorder.
func newUsageGateway(tb testing.TB, as *authServer, rec *usage.Recorder, reg *prometheus.Registry) http.Handler {
	tb.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"rec_1","status":"active"}`))
	}))
	tb.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	gw, err := gateway.New(gateway.Config{Upstream: u, Usage: rec, Registry: reg, Resource: resource.Config{
		Issuer: as.srv.URL, Audience: as.srv.URL, RevocationPoll: -1,
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(gw.Close)
	return gw.Handler()
}

func TestUsageRecorded(t *testing.T) {
	as := newAuthServer(t)
	rec := usage.NewRecorder(100)
	reg := prometheus.NewRegistry()
	h := newUsageGateway(t, as, rec, reg)
	call := func(method, path, auth string) int {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", "Bearer "+auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	search := as.token(t, "app", "search api:read-only")
	profile := as.token(t, "other", "profile")
	for _, c := range []struct {
		method, path, tok string
		want              int
	}{
		{"GET", "/records/1/search", search, 200},
		{"GET", "/records/2/search", search, 200},
		{"GET", "/records/2", search, 200},
		{"DELETE", "/records/2", search, 403},
		{"GET", "/workers/me", profile, 200},
		{"GET", "/workers/me", "", 401},
		{"GET", "/healthz", "", 200}, // the gateway's own: not a call
	} {
		if got := call(c.method, c.path, c.tok); got != c.want {
			t.Fatalf("%s %s: got %d, want %d", c.method, c.path, got, c.want)
		}
	}
	got := rec.Take()
	for i := range got.Calls {
		got.Calls[i].LastSeen = got.Calls[i].LastSeen.Truncate(0)
		if got.Calls[i].LastSeen.IsZero() {
			t.Errorf("%+v: no last-seen time", got.Calls[i])
		}
		got.Calls[i].LastSeen = got.Calls[0].LastSeen
	}
	at := got.Calls[0].LastSeen
	want := admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: "", Pattern: "workers/me", Denied: map[string]int64{"missing_token": 1}, LastSeen: at},
		// Per pattern, never per path: two paths, one pattern.
		{ClientID: "app", Pattern: "*", Allowed: 1, Denied: map[string]int64{"insufficient_scope": 1}, LastSeen: at},
		{ClientID: "app", Pattern: "records/*/search", Allowed: 2, LastSeen: at},
		{ClientID: "other", Pattern: "workers/me", Allowed: 1, LastSeen: at},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("usage (-want +got):\n%s", d)
	}
	// The metrics, by pattern and outcome only.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_gateway_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			series[strings.Join(labels, ",")] = m.GetCounter().GetValue()
		}
	}
	wantSeries := map[string]float64{
		"outcome=allowed,pattern=*":                1,
		"outcome=insufficient_scope,pattern=*":     1,
		"outcome=allowed,pattern=records/*/search": 2,
		"outcome=allowed,pattern=workers/me":       1,
		"outcome=missing_token,pattern=workers/me": 1,
	}
	if d := cmp.Diff(wantSeries, series); d != "" {
		t.Errorf("gatehouse_gateway_calls_total (-want +got):\n%s", d)
	}
}
