package app

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/docs"
)

// apiReference returns the handler of /docs: the API reference of
// api.openapi, its "Try it" calls sent to gateway.public_url, or else to
// the embedded gateway (gw, nil when disabled) at its address, with the
// gateway's base path; without a public URL or an embedded gateway, to the
// document's own servers. Without api.openapi, /docs says how to set it.
func apiReference(cfg config.Config, basePath string, gw *gatewayServer) (http.Handler, error) {
	opts := docs.Options{Issuer: cfg.Issuer}
	if f := cfg.API.OpenAPI; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("API reference: %w", err)
		}
		opts.Document = data
		base := cmp.Or(cfg.Gateway.BasePath, basePath)
		switch {
		case cfg.Gateway.PublicURL != "":
			opts.ServerURL = cfg.Gateway.PublicURL + base
		case gw != nil:
			addr := cfg.Gateway.Addr
			if _, port, _ := net.SplitHostPort(addr); port == "0" {
				addr = gw.ln.Addr().String() // a kernel-chosen port: name the real one
			}
			opts.ServerURL = "http://" + addr + base
		}
	}
	d, err := docs.New(opts)
	if err != nil {
		return nil, err
	}
	return d.Handler(), nil
}

// close releases a gateway that was started but will not run (serve failed
// before it began serving).
func (s *gatewayServer) close() {
	if s == nil {
		return
	}
	s.ln.Close()
	s.gw.Close()
}
