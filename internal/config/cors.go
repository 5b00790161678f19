package config

import (
	"fmt"

	"github.com/gatehouse/gatehouse/internal/cors"
)

// CORSConfig is the `cors:` section: the pages on other origins that may
// call the authorization server's token endpoint (and its aliases), its
// revocation feed, metadata and JWKS, and the gateway, from a browser (see
// internal/cors). The gateway also allows the issuer's own origin, always.
// `gatehouse gateway` reads AllowedOrigins from --cors-allowed-origins.
type CORSConfig struct {
	// AllowedOrigins are exact origins, scheme://host[:port] (e.g.
	// https://app.example); Validate puts them in the form browsers send
	// (lower case, no default port). "*" is refused: these routes take
	// client secrets and tokens.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// PublicOrigins are more origins for the metadata and the JWKS only,
	// which are public documents; "*" allows every origin there.
	PublicOrigins []string `yaml:"public_origins"`
}

// checkCORS checks the origins and puts them in the form browsers send.
// standalone: the problems are about `gatehouse gateway`, which has no
// public_origins.
func (c *Config) checkCORS(p *problems, standalone bool) {
	check := func(key string, list []string, star string) []string {
		out := make([]string, 0, len(list))
		for i, o := range list {
			k := fmt.Sprintf("%s[%d] %q", key, i, o)
			if o == cors.Any {
				if star != "" {
					p.add("%s: %s", k, star)
					continue
				}
				out = append(out, o)
				continue
			}
			norm, err := cors.ParseOrigin(o)
			if err != nil {
				p.add("%s %v", k, err)
				continue
			}
			out = append(out, norm)
		}
		return out
	}
	star := `the token endpoint, the revocation feed and the gateway allow exact origins only: list each one (e.g. https://app.example), and to open the public metadata and JWKS to every origin set cors.public_origins: ["*"]`
	if standalone {
		star = "the gateway allows exact origins only: list each one, e.g. https://app.example"
	}
	if list := c.CORS.AllowedOrigins; len(list) > 0 {
		c.CORS.AllowedOrigins = check("cors.allowed_origins", list, star)
	}
	if list := c.CORS.PublicOrigins; len(list) > 0 {
		c.CORS.PublicOrigins = check("cors.public_origins", list, "")
	}
}
