package config

import (
	"errors"
	"io/fs"
	"os"
)

// APIConfig is the `api:` section: the API that Gatehouse protects.
type APIConfig struct {
	// OpenAPI is the API's OpenAPI document (3.0 or 3.1, YAML or JSON).
	// When set, the scope catalog is derived from it (scopes_file, if set
	// too, is merged in: labels, default, self_service), and its servers'
	// path is the gateway's base path unless gateway.base_path is set.
	OpenAPI string `yaml:"openapi"`
}

// checkAPI checks the api section and the settings that need it; flag and
// env name the OpenAPI setting's flag and variable for messages.
func (c *Config) checkAPI(p *problems, env string) {
	if f := c.API.OpenAPI; f != "" {
		switch st, err := os.Stat(f); {
		case errors.Is(err, fs.ErrNotExist):
			p.add("api.openapi %q: no such file; give the API's OpenAPI document (%s, --openapi)", f, env)
		case err != nil:
			p.add("api.openapi %q: %v (%s, --openapi)", f, unwrapPathErr(err), env)
		case st.IsDir():
			p.add("api.openapi %q is a directory; give the API's OpenAPI document, a YAML or JSON file (%s, --openapi)", f, env)
		}
	}
	if r, ok := c.Resource(c.Gateway.Resource); ok && c.Gateway.AllowPublic && r.OpenAPI == "" {
		p.add("gateway.allow_public is set, but the gateway is resource %s (gateway.resource), whose catalog comes from no OpenAPI document: only one marks operations public; set its openapi, or turn allow_public off", r.ID)
	} else if !ok && c.Gateway.AllowPublic && c.API.OpenAPI == "" {
		p.add("gateway.allow_public is set, but only an OpenAPI document marks operations public: set api.openapi (%s, --openapi), or turn allow_public off", env)
	}
}

// unwrapPathErr drops the path an *fs.PathError repeats in its message.
func unwrapPathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
