package config

import (
	"net"
	"strconv"
)

// checkMetrics checks metrics_addr (the listener of /metrics, off when
// empty) and metrics_pprof, which needs it.
func (c *Config) checkMetrics(p *problems) {
	a := c.MetricsAddr
	if a == "" {
		if c.MetricsPprof {
			p.add("metrics_pprof is on but metrics_addr is empty; pprof is served on the metrics listener: set metrics_addr (GATEHOUSE_METRICS_ADDR, --metrics-addr), e.g. 127.0.0.1:9090")
		}
		return
	}
	_, port, err := net.SplitHostPort(a)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = &net.AddrError{Err: "port " + strconv.Quote(port) + " is not a number from 0 to 65535"}
		}
	}
	switch {
	case err != nil:
		p.add("metrics_addr %q is not host:port (%s); use e.g. 127.0.0.1:9090 (GATEHOUSE_METRICS_ADDR, --metrics-addr)", a, unwrapAddrErr(err))
	case port == "0":
	case a == c.Addr:
		p.add("metrics_addr %q is also the server's addr; metrics need a listener of their own, e.g. 127.0.0.1:9090", a)
	case c.Gateway.Enabled && a == c.Gateway.Addr:
		p.add("metrics_addr %q is also gateway.addr; metrics need a listener of their own, e.g. 127.0.0.1:9090", a)
	}
}
