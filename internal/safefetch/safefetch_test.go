package safefetch

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// tlsServer is an https test server on 127.0.0.1 and options that trust it.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, Options) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport)
	return srv, Options{TLSConfig: tr.TLSClientConfig}
}

func jsonDoc(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}
}

func TestLoopbackRefusedAtDial(t *testing.T) {
	srv, o := tlsServer(t, jsonDoc(`{}`))
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, u := range []string{
		srv.URL + "/doc",                              // 127.0.0.1
		"https://localhost:" + port + "/doc",          // a host name that resolves to it
		"https://[::ffff:127.0.0.1]:" + port + "/doc", // IPv4-mapped
	} {
		_, err := New(o).GetJSON(t.Context(), u, "application/json")
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", u, err)
		}
	}
	// Allowed, the same server answers.
	o.AllowLoopback = true
	if _, err := New(o).GetJSON(t.Context(), srv.URL+"/doc", "application/json"); err != nil {
		t.Errorf("with AllowLoopback: %v", err)
	}
	o.AllowLoopback, o.AllowPrivate = false, true
	if _, err := New(o).GetJSON(t.Context(), srv.URL+"/doc", "application/json"); err != nil {
		t.Errorf("with AllowPrivate: %v", err)
	}
}

func TestHTTPOnlyToLoopbackWhenAllowed(t *testing.T) {
	srv := httptest.NewServer(jsonDoc(`{}`))
	t.Cleanup(srv.Close)
	if _, err := New(Options{AllowPrivate: true}).GetJSON(t.Context(), srv.URL+"/doc", "application/json"); err == nil || !strings.Contains(err.Error(), "only https") {
		t.Errorf("http without AllowLoopback: got %v, want only https", err)
	}
	if _, err := New(Options{AllowLoopback: true}).GetJSON(t.Context(), srv.URL+"/doc", "application/json"); err != nil {
		t.Errorf("http to loopback with AllowLoopback: %v", err)
	}
	if err := New(Options{AllowLoopback: true}).CheckURL("http://example.com/doc"); err == nil {
		t.Error("http to a public host with AllowLoopback: accepted, want refused")
	}
	for _, u := range []string{"https://user:pw@example.com/doc", "/doc", "ftp://example.com/doc", "https:///doc"} {
		if err := New(Options{}).CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q): accepted, want refused", u)
		}
	}
}

func TestRefusals(t *testing.T) {
	srv, o := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/doc", http.StatusFound)
		case "/big":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"a":"` + strings.Repeat("x", 2000) + `"}`))
		case "/big-chunked": // no Content-Length: the limit applies while reading
			w.Header().Set("Content-Type", "application/json")
			w.(http.Flusher).Flush()
			for range 20 {
				w.Write([]byte(strings.Repeat(" ", 100)))
				w.(http.Flusher).Flush()
			}
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`{}`))
		case "/slow":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the body never ends
		case "/missing":
			http.NotFound(w, r)
		case "/jwks":
			w.Header().Set("Content-Type", "application/jwk-set+json; charset=utf-8")
			w.Write([]byte(`{"keys":[]}`))
		default:
			jsonDoc(`{}`)(w, r)
		}
	})
	o.AllowLoopback, o.MaxBytes, o.Timeout = true, 1024, 200*time.Millisecond
	f := New(o)
	for path, want := range map[string]string{
		"/redirect":    "redirects are not followed",
		"/big":         "larger than 1024 bytes",
		"/big-chunked": "larger than 1024 bytes",
		"/html":        "is not JSON",
		"/slow":        "not read within",
		"/missing":     "status 404",
	} {
		_, err := f.GetJSON(t.Context(), srv.URL+path, "application/json")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", path, err, want)
		}
	}
	r, err := f.GetJSON(t.Context(), srv.URL+"/jwks", "application/jwk-set+json")
	if err != nil || string(r.Body) != `{"keys":[]}` {
		t.Errorf("/jwks (+json type): got %v, %v", r, err)
	}
}

func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"224.0.0.1", true},
		{"255.255.255.255", true}, {"198.18.0.1", true}, {"::1", true}, {"::", true},
		{"fe80::1", true}, {"fd00::1", true}, {"ff02::1", true}, {"::ffff:10.0.0.1", true},
		{"64:ff9b::a00:1", true}, {"2002:a00:1::", true}, {"2001:db8::1", true},
		{"8.8.8.8", false}, {"93.184.216.34", false}, {"2606:4700::1111", false}, {"::ffff:8.8.8.8", false},
	} {
		if got := Forbidden(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Forbidden(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "application/jwk-set+json": true,
		"text/json": false, "text/html": false, "": false, "application/jsonx": false,
	} {
		if got := IsJSON(ct); got != want {
			t.Errorf("IsJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
