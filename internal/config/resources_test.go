package config_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestResourcesSection(t *testing.T) {
	cat := writeFile(t, "invoices:read:\n  endpoints: [\"invoices/*\": GET]\n")
	path := writeFile(t, `resources:
  - id: https://billing.example.com/api
    name: Billing API
    scopes_file: `+cat+`
    default_ttl: 10m
    max_ttl: 1h
  - id: urn:example:reports
    openapi: `+cat+`
`)
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := []config.ResourceConfig{
		{ID: "https://billing.example.com/api", Name: "Billing API", ScopesFile: cat,
			DefaultTTL: config.Duration(10 * time.Minute), MaxTTL: config.Duration(time.Hour)},
		{ID: "urn:example:reports", OpenAPI: cat},
	}
	if diff := cmp.Diff(want, c.Resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	// Unset lifetimes are token's; a default is capped by the maximum.
	if def, maxTTL := c.Resources[1].Lifetimes(c.Token); def != time.Hour || maxTTL != 30*24*time.Hour {
		t.Errorf("Lifetimes of a resource without its own: %s, %s; want token's 1h, 30d", def, maxTTL)
	}
	if def, maxTTL := (config.ResourceConfig{MaxTTL: config.Duration(time.Minute)}).Lifetimes(c.Token); def != time.Minute || maxTTL != time.Minute {
		t.Errorf("Lifetimes with max_ttl 1m: %s, %s; want 1m, 1m", def, maxTTL)
	}
	if r, ok := c.Resource("urn:example:reports"); !ok || r.OpenAPI != cat {
		t.Errorf("Resource(urn:example:reports) = %+v, %v", r, ok)
	}

	// An unknown key in an entry names the section and its keys.
	bad := writeFile(t, "resources:\n  - id: urn:x\n    scope_file: x.yaml\n")
	_, err = config.Load(bad, nil)
	if got, want := problemsOf(err), []string{`line 3: unknown key "scope_file" in resources (known keys: id, name, scopes_file, openapi, default_ttl, max_ttl)`}; !cmp.Equal(got, want) {
		t.Errorf("unknown key: got %q, want %q", got, want)
	}
}

func TestResourcesProblems(t *testing.T) {
	cat := writeFile(t, "invoices:read:\n  endpoints: [\"invoices/*\": GET]\n")
	dir := filepath.Dir(cat)
	missing := filepath.Join(dir, "missing.yaml")
	ok := func(id string) config.ResourceConfig { return config.ResourceConfig{ID: id, ScopesFile: cat} }
	h := func(d time.Duration) config.Duration { return config.Duration(d) }
	for _, tc := range []struct {
		name string
		rs   []config.ResourceConfig
		gw   config.GatewayConfig
		want []string
	}{
		{"valid", []config.ResourceConfig{ok("https://a.example/api"), ok("urn:example:b")}, config.GatewayConfig{}, nil},
		{"identifiers", []config.ResourceConfig{ok(""), ok("/api"), ok("https://a.example/api#x"), ok("https://a.example/api?v=1"), ok("https:///api"), ok("https://a.example/ api")},
			config.GatewayConfig{},
			[]string{
				`resources[0].id "" is empty; give the API's identifier, e.g. https://billing.example.com/api`,
				`resources[1].id "/api" is not an absolute URI (RFC 8707 §2); e.g. https://billing.example.com/api`,
				`resources[2].id "https://a.example/api#x" must not have a fragment (RFC 8707 §2); remove the part from "#"`,
				`resources[3].id "https://a.example/api?v=1" must not have a query; remove the part from "?"`,
				`resources[4].id "https:///api" has no host; e.g. https://billing.example.com/api`,
				`resources[5].id "https://a.example/ api" contains white space or a control character; e.g. https://billing.example.com/api`,
			}},
		{"repeated, and the default audience", []config.ResourceConfig{ok("urn:a"), ok("urn:a"), ok("http://127.0.0.1:8080")}, config.GatewayConfig{},
			[]string{
				`resources[1].id "urn:a" repeats resources[0].id; give each resource its own identifier`,
				`resources[2].id "http://127.0.0.1:8080" is the default resource's audience (token.audience, the issuer unless set); the top-level catalog already is that resource: give this one an identifier of its own`,
			}},
		{"catalogs", []config.ResourceConfig{{ID: "urn:a"}, {ID: "urn:b", ScopesFile: missing, OpenAPI: dir}}, config.GatewayConfig{},
			[]string{
				`resources[0] has no scope catalog: set scopes_file (a YAML catalog), openapi (the API's OpenAPI document), or both`,
				`resources[1].scopes_file "` + missing + `": no such file; give the resource's YAML scope catalog`,
				`resources[1].openapi "` + dir + `" is a directory; give the resource's OpenAPI document, a YAML or JSON file`,
			}},
		{"lifetimes", []config.ResourceConfig{
			{ID: "urn:a", ScopesFile: cat, DefaultTTL: h(-time.Second)},
			{ID: "urn:b", ScopesFile: cat, MaxTTL: h(31 * 24 * time.Hour)},
			{ID: "urn:c", ScopesFile: cat, DefaultTTL: h(2 * time.Hour), MaxTTL: h(time.Hour)},
			{ID: "urn:d", ScopesFile: cat, DefaultTTL: h(31 * 24 * time.Hour)},
		}, config.GatewayConfig{},
			[]string{
				`resources[0].default_ttl is negative (-1s); use e.g. 1h, or 0 for token.default_ttl`,
				`resources[1].max_ttl (31d) exceeds token.max_ttl (30d); lower it or raise token.max_ttl`,
				`resources[2].default_ttl (2h) exceeds its max_ttl (1h); lower default_ttl or raise max_ttl`,
				`resources[3].default_ttl (31d) exceeds token.max_ttl (30d); lower it or raise token.max_ttl`,
			}},
		{"gateway audience against its resource", []config.ResourceConfig{ok("https://a.example/api")},
			config.GatewayConfig{Resource: "https://a.example/api", Audience: "https://other.example"},
			[]string{`gateway.audience "https://other.example" differs from gateway.resource "https://a.example/api", which is an entry of resources: the gateway for that resource accepts its tokens only; remove gateway.audience`}},
		{"allow_public for a resource without a document", []config.ResourceConfig{ok("https://a.example/api")},
			config.GatewayConfig{Resource: "https://a.example/api", AllowPublic: true},
			[]string{`gateway.allow_public is set, but the gateway is resource https://a.example/api (gateway.resource), whose catalog comes from no OpenAPI document: only one marks operations public; set its openapi, or turn allow_public off`}},
		{"allow_public for a resource with a document", []config.ResourceConfig{{ID: "https://a.example/api", OpenAPI: cat}},
			config.GatewayConfig{Resource: "https://a.example/api", AllowPublic: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.Addr = "127.0.0.1:8080"
			c.Resources = tc.rs
			c.Gateway.Resource, c.Gateway.Audience, c.Gateway.AllowPublic = tc.gw.Resource, tc.gw.Audience, tc.gw.AllowPublic
			if diff := cmp.Diff(tc.want, problemsOf(c.Validate())); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}
