package server

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/postgres"
	"github.com/gatehouse/gatehouse/internal/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

// postgresHarness is a server on the PostgreSQL schema of dsn (pgtest.DSN),
// with a key ring of its own on master and the given clock, its store
// wrapped by wrap; opts adjusts its options.
func postgresHarness(t testing.TB, dsn string, clk *testutil.Clock, master []byte, wrap func(store.Store) store.Store, opts func(*Options)) *harness {
	t.Helper()
	ctx := context.Background()
	pst, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pst.Close() })
	st := wrap(pst)
	keys, err := token.NewKeyring(st, token.Config{MasterKey: master, Now: clk.Now, Rand: rand.Reader, MaxTokenTTL: 30 * 24 * time.Hour, LeadTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, keys: keys, master: master, clock: clk, reg: prometheus.NewRegistry()}
	o := Options{
		Store: st, Keys: keys, Catalog: scope.Default(), Registry: h.reg,
		Issuer: "http://issuer.test", Audience: "https://api.test", Now: clk.Now, Rand: rand.Reader,
		DefaultTTL: time.Hour, MaxTTL: 30 * 24 * time.Hour,
		RefreshIdleTTL: 14 * 24 * time.Hour, RefreshAbsoluteTTL: 90 * 24 * time.Hour,
	}
	opts(&o)
	if h.srv, err = New(o); err != nil {
		t.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.http.Close)
	h.svc = clients.NewService(st, scope.Default(), 30*24*time.Hour, clk.Now, rand.Reader)
	return h
}

// BenchmarkIntrospect measures the introspection handler in process (form,
// the caller's Basic authentication from the client cache, the token, the
// JSON response) for a client's token, on SQLite and, with
// GATEHOUSE_TEST_DATABASE_URL, on PostgreSQL, with cache.max_staleness 5s
// and the store followed once before the timer starts. "repeated"
// introspects one token again and again; "fresh" a token never
// introspected before each time (issued before the timer starts), so that
// its signature is checked.
//
//	go test -run '^$' -bench Introspect -benchmem ./internal/server/
func BenchmarkIntrospect(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) *harness
	}{
		{"sqlite", func(b *testing.B) *harness {
			return newHarness(b, harnessOpts{func(o *Options) { o.MaxStaleness = 5 * time.Second }})
		}},
	}
	if os.Getenv(pgtest.EnvVar) != "" {
		stores = append(stores, struct {
			name string
			open func(b *testing.B) *harness
		}{"postgres", func(b *testing.B) *harness {
			master := make([]byte, 32)
			rand.Read(master)
			clk := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
			return postgresHarness(b, pgtest.DSN(b), clk, master, func(st store.Store) store.Store { return st },
				func(o *Options) { o.MaxStaleness = 5 * time.Second })
		}})
	}
	for _, st := range stores {
		for _, fresh := range []bool{false, true} {
			name := st.name + "/repeated"
			if fresh {
				name = st.name + "/fresh"
			}
			b.Run(name, func(b *testing.B) {
				h := st.open(b)
				id, secret := h.client(clients.Spec{})
				rsID, rsSecret := h.client(clients.Spec{Name: "resource server"})
				var f feed
				h.srv.follow(context.Background(), &f)
				handler := h.srv.Handler()
				issue := func() string {
					w := httptest.NewRecorder()
					req := httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", basic(id, secret))
					handler.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("token: got %d %s", w.Code, w.Body)
					}
					return claimString(w.Body.String(), "access_token")
				}
				n := 1
				if fresh {
					n = b.N
				}
				bodies := make([]string, n)
				for i := range bodies {
					bodies[i] = "token=" + url.QueryEscape(issue())
				}
				auth := basic(rsID, rsSecret)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					req := httptest.NewRequest("POST", PathIntrospect, strings.NewReader(bodies[i%n]))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", auth)
					w := httptest.NewRecorder()
					handler.ServeHTTP(w, req)
					if w.Code != 200 || !strings.HasPrefix(w.Body.String(), `{"active":true`) {
						b.Fatalf("introspect: got %d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

// claimString is the string member name of a flat JSON object.
func claimString(body, name string) string {
	_, rest, ok := strings.Cut(body, `"`+name+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
