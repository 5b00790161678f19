package config_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestAPISection(t *testing.T) {
	doc := writeFile(t, "openapi: 3.1.0\n")
	path := writeFile(t, "api:\n  openapi: "+doc+"\ngateway:\n  allow_public: true\n")
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.API.OpenAPI != doc || !c.Gateway.AllowPublic {
		t.Errorf("api.openapi %q, gateway.allow_public %v; want %q, true", c.API.OpenAPI, c.Gateway.AllowPublic, doc)
	}
	// The environment sets it too.
	c, err = config.Load("", func(k string) string { return map[string]string{"GATEHOUSE_OPENAPI": doc}[k] })
	if err != nil || c.API.OpenAPI != doc {
		t.Errorf("GATEHOUSE_OPENAPI: api.openapi %q, %v; want %q", c.API.OpenAPI, err, doc)
	}
}

func TestAPIProblems(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name        string
		api         config.APIConfig
		allowPublic bool
		want        []string // serve's problems
		wantGateway []string // gatehouse gateway's
	}{
		{"none", config.APIConfig{}, false, nil, nil},
		{"missing", config.APIConfig{OpenAPI: missing}, false,
			[]string{`api.openapi "` + missing + `": no such file; give the API's OpenAPI document (GATEHOUSE_OPENAPI, --openapi)`},
			[]string{`--openapi "` + missing + `": no such file; give the API's OpenAPI document (--openapi, GATEHOUSE_GATEWAY_OPENAPI)`}},
		{"directory", config.APIConfig{OpenAPI: dir}, false,
			[]string{`api.openapi "` + dir + `" is a directory; give the API's OpenAPI document, a YAML or JSON file (GATEHOUSE_OPENAPI, --openapi)`},
			[]string{`--openapi "` + dir + `" is a directory; give the API's OpenAPI document, a YAML or JSON file (--openapi, GATEHOUSE_GATEWAY_OPENAPI)`}},
		{"allow_public without a document", config.APIConfig{}, true,
			[]string{"gateway.allow_public is set, but only an OpenAPI document marks operations public: set api.openapi (GATEHOUSE_OPENAPI, --openapi), or turn allow_public off"},
			[]string{"--allow-public is set, but only an OpenAPI document marks operations public: set --openapi (--openapi, GATEHOUSE_GATEWAY_OPENAPI), or turn allow_public off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.API = tc.api
			c.Gateway.AllowPublic = tc.allowPublic
			if diff := cmp.Diff(tc.want, problemsOf(c.Validate())); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			g, err := config.LoadGateway(nil)
			if err != nil {
				t.Fatal(err)
			}
			g.Issuer, g.Gateway.Upstream = "https://auth.example.com", "http://127.0.0.1:3000"
			g.API = tc.api
			g.Gateway.AllowPublic = tc.allowPublic
			if diff := cmp.Diff(tc.wantGateway, problemsOf(g.ValidateGateway())); diff != "" {
				t.Errorf("ValidateGateway (-want +got):\n%s", diff)
			}
		})
	}
}

func problemsOf(err error) []string {
	if err == nil {
		return nil
	}
	ce, ok := err.(*config.Error)
	if !ok {
		return []string{"not a *config.Error: " + err.Error()}
	}
	return ce.Problems
}
