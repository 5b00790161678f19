package config_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestMetricsConfig(t *testing.T) {
	path := writeFile(t, "metrics_addr: 127.0.0.1:9090\nmetrics_pprof: true\n")
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9090" || !c.MetricsPprof {
		t.Errorf("from the file: got metrics_addr %q, metrics_pprof %v; want 127.0.0.1:9090, true", c.MetricsAddr, c.MetricsPprof)
	}
	c, err = config.Load(path, env(map[string]string{"GATEHOUSE_METRICS_ADDR": "127.0.0.1:9191"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:9191" {
		t.Errorf("GATEHOUSE_METRICS_ADDR: got %q, want it to beat the file", c.MetricsAddr)
	}
	if d := config.Default(); d.MetricsAddr != "" || d.MetricsPprof {
		t.Errorf("default: got metrics_addr %q, metrics_pprof %v; want off", d.MetricsAddr, d.MetricsPprof)
	}

	for _, tt := range []struct {
		name    string
		modify  func(*config.Config)
		wantErr string
	}{
		{"off", func(c *config.Config) {}, ""},
		{"own port", func(c *config.Config) { c.MetricsAddr = ":9090" }, ""},
		{"kernel-chosen port", func(c *config.Config) { c.Addr, c.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"pprof", func(c *config.Config) { c.MetricsAddr, c.MetricsPprof = "127.0.0.1:9090", true }, ""},
		{"pprof without a listener", func(c *config.Config) { c.MetricsPprof = true },
			"metrics_pprof is on but metrics_addr is empty; pprof is served on the metrics listener: set metrics_addr (GATEHOUSE_METRICS_ADDR, --metrics-addr), e.g. 127.0.0.1:9090"},
		{"not host:port", func(c *config.Config) { c.MetricsAddr = "9090" },
			`metrics_addr "9090" is not host:port (missing port in address); use e.g. 127.0.0.1:9090 (GATEHOUSE_METRICS_ADDR, --metrics-addr)`},
		{"the public listener", func(c *config.Config) { c.MetricsAddr = c.Addr },
			`metrics_addr "127.0.0.1:8080" is also the server's addr; metrics need a listener of their own, e.g. 127.0.0.1:9090`},
		{"the gateway's listener", func(c *config.Config) {
			c.Gateway.Enabled, c.Gateway.Upstream, c.MetricsAddr = true, "http://127.0.0.1:3000", config.DefaultGatewayAddr
		}, `metrics_addr "127.0.0.1:8081" is also gateway.addr; metrics need a listener of their own, e.g. 127.0.0.1:9090`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.modify(&c)
			var got string
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}
