package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

type harness struct {
	t      testing.TB
	st     *sqlite.Store
	dbDir  string
	keys   *token.Keyring
	master []byte // the keyring's master key
	srv    *Server
	http   *httptest.Server
	svc    *clients.Service
	clock  *testutil.Clock
	reg    *prometheus.Registry // the server's metrics
}

type harnessOpts struct {
	opts func(*Options)
}

func newHarness(t testing.TB, ho ...harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/gatehouse.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	master := make([]byte, 32)
	rand.Read(master)
	keys, err := token.NewKeyring(st, token.Config{MasterKey: master, Now: clk.Now, Rand: rand.Reader, MaxTokenTTL: 30 * 24 * time.Hour, LeadTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, dbDir: dir, keys: keys, master: master, clock: clk, reg: prometheus.NewRegistry()}
	o := Options{
		Registry: h.reg,
		Store:    st, Keys: keys, Catalog: scope.Default(),
		Issuer: "http://issuer.test", Audience: "https://api.test",
		TokenPaths: []string{"/oauth/v2/token"}, Now: clk.Now, Rand: rand.Reader,
		PollInterval: 50 * time.Millisecond,
		DefaultTTL:   time.Hour, MaxTTL: 30 * 24 * time.Hour,
		RefreshIdleTTL: 14 * 24 * time.Hour, RefreshAbsoluteTTL: 90 * 24 * time.Hour,
		FailuresPerClient: 30, FailuresPerAddress: 60, FailureBurst: 10, RememberSuccess: 24 * time.Hour,
	}
	for _, x := range ho {
		x.opts(&o)
	}
	h.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.http.Close)
	h.svc = clients.NewService(st, scope.Default(), 30*24*time.Hour, clk.Now, rand.Reader)
	return h
}

// metrics returns the server's metrics in the Prometheus text format, as
// the CLI's metrics listener serves them.
func (h *harness) metrics() string {
	h.t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// run starts the background loop for the test's duration.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.srv.Run(ctx); close(done) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

func (h *harness) client(sp clients.Spec) (id, secret string) {
	h.t.Helper()
	if sp.Name == "" {
		sp.Name = "test client"
	}
	c, s, err := h.svc.Create(context.Background(), "test", sp)
	if err != nil {
		h.t.Fatal(err)
	}
	return c.ID, s
}

type response struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &r.json)
	return r
}

func (h *harness) post(path, body string, hdr map[string]string) response {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.http.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return h.do(req)
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func (h *harness) token(id, secret, extra string) response {
	h.t.Helper()
	body := "grant_type=client_credentials"
	if extra != "" {
		body += "&" + extra
	}
	return h.post(PathToken, body, map[string]string{"Authorization": basic(id, secret)})
}

// claims decodes a JWT's payload without verifying it.
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.json["error"] != code {
		t.Fatalf("got %d %s, want %d with error %q", r.status, r.body, status, code)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", r.header.Get("Content-Type"))
	}
}

// mustRequest is http.NewRequest without a body, failing the test on error.
func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
