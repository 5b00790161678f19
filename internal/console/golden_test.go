package console_test

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/users"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// zeroReader makes cookie values and CSRF tokens predictable.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestPagesGolden(t *testing.T) {
	h := newHarnessWith(t, users.Options{}, func(o *console.Options) {
		o.Rand = zeroReader{}
		o.CSRFKey = []byte("golden test key")
	})
	h.createUser("alice", store.RoleAdmin)
	pages := map[string]string{}
	pages["login"] = h.get("/console/login?next=/console/").body
	pages["login-failed"] = h.post("/console/login", url.Values{
		"csrf_token": {csrfOf(t, pages["login"])}, "username": {"alice"}, "password": {"wrong password!"}, "next": {"/console/"},
	}).body
	pages["setup-invalid"] = h.get("/console/setup?token=nope").body
	h.login("alice", pw, "")
	pages["home"] = h.get("/console/").body
	pages["not-found"] = h.get("/console/nope").body
	for name, got := range pages {
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if d := cmp.Diff(string(want), got); d != "" {
			t.Errorf("page %s differs from %s (-want +got):\n%s", name, path, d)
		}
	}
}
