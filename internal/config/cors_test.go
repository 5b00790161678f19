package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestCORSSection(t *testing.T) {
	c, err := config.Load(writeFile(t, `
cors:
  allowed_origins: [https://App.Example:443, "http://localhost:3000"]
  public_origins: ["*"]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := config.CORSConfig{
		AllowedOrigins: []string{"https://app.example", "http://localhost:3000"}, // as browsers send them
		PublicOrigins:  []string{"*"},
	}
	if diff := cmp.Diff(want, c.CORS); diff != "" {
		t.Errorf("cors section after Validate (-want +got):\n%s", diff)
	}
	if d := config.Default().CORS; d.AllowedOrigins != nil || d.PublicOrigins != nil {
		t.Errorf("default cors section: got %+v, want no origins", d)
	}
}

func TestCORSEnv(t *testing.T) {
	c, err := config.Load(writeFile(t, "cors:\n  allowed_origins: [https://file.example]\n"), env(map[string]string{
		"GATEHOUSE_CORS_ALLOWED_ORIGINS": " https://a.example, ,https://b.example:8443 ",
		"GATEHOUSE_CORS_PUBLIC_ORIGINS":  "*",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.CORSConfig{AllowedOrigins: []string{"https://a.example", "https://b.example:8443"}, PublicOrigins: []string{"*"}}
	if diff := cmp.Diff(want, c.CORS); diff != "" {
		t.Errorf("cors section from the environment, which beats the file (-want +got):\n%s", diff)
	}

	g, err := config.LoadGateway(env(map[string]string{
		"GATEHOUSE_GATEWAY_CORS_ALLOWED_ORIGINS": "https://app.example,http://127.0.0.1:3000",
		"GATEHOUSE_CORS_ALLOWED_ORIGINS":         "https://serve-only.example", // serve's, not the gateway's
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.CORS.AllowedOrigins, []string{"https://app.example", "http://127.0.0.1:3000"}; !cmp.Equal(got, want) {
		t.Errorf("gatehouse gateway's origins: got %q, want %q", got, want)
	}
}

func TestCORSProblems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cors    config.CORSConfig
		want    []string // substrings, one problem each
		gateway []string // the same problems from ValidateGateway (AllowedOrigins only); nil: as want
	}{
		{"star for the token endpoint and gateway", config.CORSConfig{AllowedOrigins: []string{"https://app.example", "*"}},
			[]string{`cors.allowed_origins[1] "*": the token endpoint, the revocation feed and the gateway allow exact origins only: list each one (e.g. https://app.example), and to open the public metadata and JWKS to every origin set cors.public_origins: ["*"]`},
			[]string{`--cors-allowed-origins[1] "*": the gateway allows exact origins only: list each one, e.g. https://app.example`}},
		{"a wildcard host", config.CORSConfig{AllowedOrigins: []string{"https://*.example.com"}},
			[]string{`cors.allowed_origins[0] "https://*.example.com" has a wildcard; origins match exactly: list each origin, e.g. https://app.example`}, nil},
		{"null", config.CORSConfig{AllowedOrigins: []string{"null"}}, []string{`cors.allowed_origins[0] "null" is the origin of sandboxed frames`}, nil},
		{"a URL with a path", config.CORSConfig{AllowedOrigins: []string{"https://app.example/"}}, []string{`cors.allowed_origins[0] "https://app.example/" has more than scheme://host[:port] ("/")`}, nil},
		{"no scheme", config.CORSConfig{AllowedOrigins: []string{"app.example"}}, []string{`cors.allowed_origins[0] "app.example" is not an origin`}, nil},
		{"empty", config.CORSConfig{AllowedOrigins: []string{""}}, []string{`cors.allowed_origins[0] "" is empty`}, nil},
		{"public: star is fine, null is not", config.CORSConfig{PublicOrigins: []string{"*", "null", "ftp://x"}},
			[]string{`cors.public_origins[1] "null"`, `cors.public_origins[2] "ftp://x" has the scheme "ftp"`}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.CORS = tc.cors
			checkProblems(t, c.Validate(), tc.want)

			g, err := config.LoadGateway(nil)
			if err != nil {
				t.Fatal(err)
			}
			g.Issuer, g.Gateway.Upstream = "http://127.0.0.1:8080", "http://127.0.0.1:3000"
			g.CORS.AllowedOrigins = tc.cors.AllowedOrigins
			want := tc.gateway
			if want == nil {
				want = make([]string, len(tc.want))
				for i, w := range tc.want {
					want[i] = strings.Replace(w, "cors.allowed_origins", "--cors-allowed-origins", 1)
				}
			}
			checkProblems(t, g.ValidateGateway(), want)
		})
	}
}

// checkProblems checks that err lists exactly problems that mention want,
// in order (none: err is nil).
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("got %v, want no problem", err)
		}
		return
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	if len(ce.Problems) != len(want) {
		t.Fatalf("problems: got %q, want %d", ce.Problems, len(want))
	}
	for i, w := range want {
		if !strings.Contains(ce.Problems[i], w) {
			t.Errorf("problem %d: got %q, want it to mention %q", i, ce.Problems[i], w)
		}
		if strings.Contains(ce.Problems[i], "\n") {
			t.Errorf("problem %d is more than one line: %q", i, ce.Problems[i])
		}
	}
}
