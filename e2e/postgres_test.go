package e2e

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
)

// TestPostgresTwoNodes runs two servers on one PostgreSQL schema: a client
// created through the CLI works on both, they publish the same signing key,
// and a change reaches both within two seconds.
func TestPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	in := newInstance(t, "GATEHOUSE_DATABASE_URL="+dsn, "GATEHOUSE_SECRET=e2e-master-key-0123456789abcdefghijkl")
	a := in.serve()
	b := in.serve()
	c := in.CreateClient("--name", "pg client", "--scopes", "search")
	for _, s := range []server{a, b} {
		code, m := s.token(t, c.ClientID, c.ClientSecret, "search")
		if code != 200 {
			t.Fatalf("%s: got %d %v", s.URL, code, m)
		}
	}
	in.MustCLI("clients", "update", c.ClientID, "--disable")
	for _, s := range []server{a, b} {
		harness.Within(t, 2*time.Second, "disabled on "+s.URL, func() bool {
			code, _ := s.token(t, c.ClientID, c.ClientSecret, "")
			return code == 401
		})
	}
	ka, kb := harness.Fetch(t, a.URL+"/.well-known/jwks.json"), harness.Fetch(t, b.URL+"/.well-known/jwks.json")
	if ka != kb {
		t.Errorf("nodes publish different JWKS:\n%s\n%s", ka, kb)
	}
}
