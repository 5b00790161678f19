package app

import (
	"fmt"
	"net/http"
	"os"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/docs"
)

// apiReference returns the handler of /docs: the API reference of
// api.openapi, its "Try it" calls sent through the gateway (gw.apiURL:
// gateway.public_url, or else the embedded gateway's address, with the
// base path); without either, to the document's own servers. Without
// api.openapi, /docs says how to set it.
func apiReference(cfg config.Config, basePath string, gw *gatewayServer) (http.Handler, error) {
	opts := docs.Options{Issuer: cfg.Issuer}
	if f := cfg.API.OpenAPI; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("API reference: %w", err)
		}
		opts.Document = data
		opts.ServerURL = gw.apiURL(cfg, basePath)
	}
	d, err := docs.New(opts)
	if err != nil {
		return nil, err
	}
	return d.Handler(), nil
}
