package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// TestMetricsListener: /metrics (and pprof, when asked for) is served on
// --metrics-addr only; the public listener answers 404 for it, as for any
// unknown path. Without --metrics-addr nothing serves metrics.
func TestMetricsListener(t *testing.T) {
	in := newInstance(t)
	srv := server{in.Start([]string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--pprof"},
		harness.ListenRE, metricsRE)}
	c := in.CreateClient("--name", "metrics", "--scopes", "search")
	if code, m := srv.token(t, c.ClientID, c.ClientSecret, ""); code != 200 {
		t.Fatalf("token: got %d %v", code, m)
	}
	m := harness.Fetch(t, srv.metricsURL())
	for _, series := range []string{
		`gatehouse_tokens_issued_total{grant_type="client_credentials"}`,
		`gatehouse_http_requests_total{code="200",route="token"}`,
	} {
		if v := metricValue(t, m, series); v != "1" {
			t.Errorf("metrics listener: %s is %q, want 1", series, v)
		}
	}
	if !strings.Contains(m, "go_goroutines ") || !strings.Contains(m, "process_cpu_seconds_total ") {
		t.Errorf("metrics listener lacks the Go and process collectors")
	}
	if got := status(t, strings.TrimSuffix(srv.metricsURL(), "/metrics")+"/debug/pprof/"); got != 200 {
		t.Errorf("pprof on the metrics listener: got %d, want 200", got)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if got := status(t, srv.URL+path); got != 404 {
			t.Errorf("public listener %s: got %d, want 404", path, got)
		}
	}

	plain := in.serve()
	if got := status(t, plain.URL+"/metrics"); got != 404 {
		t.Errorf("public /metrics without --metrics-addr: got %d, want 404", got)
	}
	if strings.Contains(plain.Logs.String(), "metrics=") {
		t.Errorf("serve without --metrics-addr names a metrics listener:\n%s", plain.Logs)
	}
}

func status(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
