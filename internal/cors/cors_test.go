package cors_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/cors"
)

// policy is a route's policy as the gateway's looks.
var policy = cors.Policy{
	Origins: []string{"https://app.example", "HTTP://Localhost:3000", "https://tools.example:443", "http://[0:0::1]:8000"},
	Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
	Headers: []string{"Authorization", "Content-Type", "X-Account"},
	Expose:  []string{"WWW-Authenticate", "Retry-After"},
}

// serve sends a request through p's middleware to a handler that answers
// 200 and sets a header of its own, and returns the response and whether
// the handler ran.
func serve(t *testing.T, p cors.Policy, method string, header http.Header) (*http.Response, bool) {
	t.Helper()
	mw, err := cors.New(p)
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		w.Header().Set("X-Handler", "ran")
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest(method, "http://api.example/records/1", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	if v := resp.Header.Values("Access-Control-Allow-Credentials"); len(v) > 0 {
		t.Errorf("Access-Control-Allow-Credentials: got %q, want none, ever", v)
	}
	return resp, ran
}

// corsHeaders returns the response's Access-Control-* headers and Vary.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out[k] = strings.Join(v, " | ")
		}
	}
	return out
}

func origin(o ...string) http.Header { return http.Header{"Origin": o} }

func TestActualRequests(t *testing.T) {
	allowed := func(o string) map[string]string {
		return map[string]string{
			"Access-Control-Allow-Origin":   o,
			"Access-Control-Expose-Headers": "WWW-Authenticate, Retry-After",
			"Vary":                          "Origin",
		}
	}
	notAllowed := map[string]string{"Vary": "Origin"}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   map[string]string
	}{
		{"allowed origin", origin("https://app.example"), allowed("https://app.example")},
		{"configured with upper case and a default port", origin("http://localhost:3000"), allowed("http://localhost:3000")},
		{"configured with its default port", origin("https://tools.example"), allowed("https://tools.example")},
		{"IPv6, configured uncompressed", origin("http://[::1]:8000"), allowed("http://[::1]:8000")},
		{"no Origin (same origin, or not a browser)", nil, notAllowed},
		{"another origin", origin("https://evil.example"), notAllowed},
		{"a suffix of an allowed host", origin("https://app.example.evil.example"), notAllowed},
		{"a longer host ending like an allowed one", origin("https://evilapp.example"), notAllowed},
		{"another scheme", origin("http://app.example"), notAllowed},
		{"another port", origin("https://app.example:8443"), notAllowed},
		// Browsers send origins lower case and without a default port;
		// anything else is compared as sent.
		{"upper case, as no browser sends it", origin("HTTPS://APP.EXAMPLE"), notAllowed},
		{"an explicit default port, as no browser sends it", origin("https://app.example:443"), notAllowed},
		{"a trailing slash", origin("https://app.example/"), notAllowed},
		{"null (sandboxed or file: documents)", origin("null"), notAllowed},
		{"two Origin headers", origin("https://app.example", "https://app.example"), notAllowed},
		{"empty Origin", origin(""), notAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST", "DELETE", "OPTIONS"} {
				resp, ran := serve(t, policy, method, tc.header)
				if !ran || resp.StatusCode != 200 || resp.Header.Get("X-Handler") != "ran" {
					t.Errorf("%s: got %d, handler ran %v; want the handler's 200 (CORS only adds headers)", method, resp.StatusCode, ran)
				}
				if diff := cmp.Diff(tc.want, corsHeaders(resp.Header)); diff != "" {
					t.Errorf("%s: CORS headers (-want +got):\n%s", method, diff)
				}
			}
		})
	}
}

func preflightHeader(o, method, headers string) http.Header {
	h := http.Header{"Origin": {o}, "Access-Control-Request-Method": {method}}
	if headers != "" {
		h["Access-Control-Request-Headers"] = []string{headers}
	}
	return h
}

func TestPreflight(t *testing.T) {
	const vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
	ok := func(o string) map[string]string {
		return map[string]string{
			"Access-Control-Allow-Origin":  o,
			"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, X-Account",
			"Access-Control-Max-Age":       "7200",
			"Vary":                         vary,
		}
	}
	refused := map[string]string{"Vary": vary}
	for _, tc := range []struct {
		name       string
		header     http.Header
		wantStatus int
		want       map[string]string
	}{
		{"GET with a bearer token", preflightHeader("https://app.example", "GET", "authorization"), 204, ok("https://app.example")},
		{"PATCH with JSON and the account", preflightHeader("http://localhost:3000", "PATCH", "authorization,content-type,x-account"), 204, ok("http://localhost:3000")},
		{"headers in any case, with spaces", preflightHeader("https://app.example", "DELETE", " Authorization , X-ACCOUNT"), 204, ok("https://app.example")},
		{"no headers asked for", preflightHeader("https://app.example", "PUT", ""), 204, ok("https://app.example")},
		{"headers split over two lines by a proxy", http.Header{
			"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"},
			"Access-Control-Request-Headers": {"authorization", "content-type"}}, 204, ok("https://app.example")},
		{"another origin", preflightHeader("https://evil.example", "GET", "authorization"), 403, refused},
		{"null", preflightHeader("null", "GET", "authorization"), 403, refused},
		{"explicit default port", preflightHeader("https://app.example:443", "GET", "authorization"), 403, refused},
		{"a method not allowed", preflightHeader("https://app.example", "TRACE", ""), 403, refused},
		{"a method in another case (not normalised by browsers)", preflightHeader("https://app.example", "patch", ""), 403, refused},
		{"a header not allowed", preflightHeader("https://app.example", "GET", "authorization,x-debug"), 403, refused},
		{"a header not allowed on a second line", http.Header{
			"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"},
			"Access-Control-Request-Headers": {"authorization", "cookie"}}, 403, refused},
		{"two methods", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET", "PUT"}}, 403, refused},
		{"two origins", http.Header{"Origin": {"https://app.example", "https://evil.example"}, "Access-Control-Request-Method": {"GET"}}, 403, refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, ran := serve(t, policy, "OPTIONS", tc.header)
			if ran {
				t.Errorf("the handler ran for a preflight; want it answered by the middleware")
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.want, corsHeaders(resp.Header)); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
		})
	}

	// An OPTIONS request without Origin or without
	// Access-Control-Request-Method is not a preflight: the route answers.
	for name, h := range map[string]http.Header{
		"no Origin":                        {"Access-Control-Request-Method": {"GET"}},
		"no Access-Control-Request-Method": origin("https://app.example"),
	} {
		if _, ran := serve(t, policy, "OPTIONS", h); !ran {
			t.Errorf("OPTIONS with %s: the handler did not run; want it to (not a preflight)", name)
		}
	}
	// Nor is a preflight's shape in another method.
	if resp, ran := serve(t, policy, "GET", preflightHeader("https://app.example", "GET", "")); !ran || resp.StatusCode != 200 {
		t.Errorf("GET with Access-Control-Request-Method: got %d, handler ran %v; want the handler's 200", resp.StatusCode, ran)
	}
}

func TestAnyOrigin(t *testing.T) {
	p := cors.Policy{Origins: []string{"https://app.example", cors.Any}, Methods: []string{"GET", "HEAD"}}
	for _, o := range [][]string{{"https://app.example"}, {"https://other.example"}, {"null"}, nil} {
		resp, ran := serve(t, p, "GET", origin(o...))
		want := map[string]string{"Access-Control-Allow-Origin": "*"}
		if !ran {
			t.Errorf("Origin %q: the handler did not run", o)
		}
		if diff := cmp.Diff(want, corsHeaders(resp.Header)); diff != "" {
			t.Errorf("Origin %q: CORS headers (-want +got):\n%s", o, diff)
		}
	}
	resp, _ := serve(t, p, "OPTIONS", preflightHeader("https://other.example", "GET", ""))
	want := map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "GET, HEAD",
		"Access-Control-Max-Age":       "7200",
		"Vary":                         "Access-Control-Request-Method, Access-Control-Request-Headers",
	}
	if resp.StatusCode != 204 {
		t.Errorf("preflight: got %d, want 204", resp.StatusCode)
	}
	if diff := cmp.Diff(want, corsHeaders(resp.Header)); diff != "" {
		t.Errorf("preflight CORS headers (-want +got):\n%s", diff)
	}
	// A header no route of "*" takes is still refused.
	if resp, _ := serve(t, p, "OPTIONS", preflightHeader("https://other.example", "GET", "authorization")); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight asking for Authorization: got %d %v, want 403 without CORS headers", resp.StatusCode, corsHeaders(resp.Header))
	}
}

// A route without origins is not CORS-enabled: nothing changes.
func TestNoOrigins(t *testing.T) {
	p := policy
	p.Origins = nil
	for _, m := range []string{"GET", "OPTIONS"} {
		resp, ran := serve(t, p, m, preflightHeader("https://app.example", "GET", ""))
		if !ran || len(corsHeaders(resp.Header)) != 0 {
			t.Errorf("%s: handler ran %v, CORS headers %v; want the handler alone", m, ran, corsHeaders(resp.Header))
		}
	}
}

// The middleware adds to Vary; the route's own values stay.
func TestVaryKeepsTheRoutes(t *testing.T) {
	mw, err := cors.New(policy)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got, want := rec.Header().Values("Vary"), []string{"Origin", "Accept-Encoding"}; !cmp.Equal(got, want) {
		t.Errorf("Vary: got %q, want %q", got, want)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    cors.Policy
		want string
	}{
		{"a wildcard host", cors.Policy{Origins: []string{"https://*.example"}, Methods: []string{"GET"}}, "wildcard"},
		{"null", cors.Policy{Origins: []string{"null"}, Methods: []string{"GET"}}, "sandboxed"},
		{"a URL", cors.Policy{Origins: []string{"https://app.example/page"}, Methods: []string{"GET"}}, "no path"},
		{"no methods", cors.Policy{Origins: []string{"https://app.example"}}, "no methods"},
		{"a bad method", cors.Policy{Origins: []string{"https://app.example"}, Methods: []string{"GET POST"}}, "not an HTTP method"},
		{"a bad header", cors.Policy{Origins: []string{"https://app.example"}, Methods: []string{"GET"}, Headers: []string{"X Account"}}, "not a header name"},
		{"a bad exposed header", cors.Policy{Origins: []string{"https://app.example"}, Methods: []string{"GET"}, Expose: []string{""}}, "not a header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cors.New(tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" : an error
		wantErr  string
	}{
		{in: "https://app.example", want: "https://app.example"},
		{in: "HTTPS://App.Example", want: "https://app.example"},
		{in: "https://app.example:443", want: "https://app.example"},
		{in: "http://app.example:80", want: "http://app.example"},
		{in: "http://app.example:443", want: "http://app.example:443"},
		{in: "https://app.example:80", want: "https://app.example:80"},
		{in: "https://app.example:08443", want: "https://app.example:8443"},
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "http://[::1]:3000", want: "http://[::1]:3000"},
		{in: "http://[0:0:0:0:0:0:0:1]", want: "http://[::1]"},
		{in: "http://[2001:DB8::A]:443", want: "http://[2001:db8::a]:443"},
		{in: "https://xn--bcher-kva.example", want: "https://xn--bcher-kva.example"},
		{in: "https://my_host.example", want: "https://my_host.example"},

		{in: "", wantErr: "is empty"},
		{in: "*", wantErr: "wildcard"},
		{in: "null", wantErr: "sandboxed"},
		{in: "app.example", wantErr: "not an origin"},
		{in: "https://app.example/", wantErr: `("/")`},
		{in: "https://app.example/path", wantErr: "no path"},
		{in: "https://app.example?x", wantErr: "query"},
		{in: "https://app.example#x", wantErr: "fragment"},
		{in: "ftp://app.example", wantErr: `scheme "ftp"`},
		{in: "chrome-extension://abcdef", wantErr: "only http and https"},
		{in: "https://user@app.example", wantErr: "user information"},
		{in: "https://*.example", wantErr: "wildcard"},
		{in: "https://app.*", wantErr: "wildcard"},
		{in: "https://", wantErr: "no host"},
		{in: "https://:443", wantErr: "no host"},
		{in: "https://app.example:", wantErr: `port ""`},
		{in: "https://app.example:0", wantErr: `port "0"`},
		{in: "https://app.example:65536", wantErr: `port "65536"`},
		{in: "https://app.example:http", wantErr: `port "http"`},
		{in: "https://bücher.example", wantErr: "xn--"},
		{in: "https://app example", wantErr: `' '`},
		{in: "http://127.1", wantErr: "dotted-decimal"},
		{in: "http://127.000.0.1", wantErr: "dotted-decimal"},
		{in: "http://300.0.0.1", wantErr: "dotted-decimal"},
		{in: "http://[::1", wantErr: "unclosed"},
		{in: "http://[::1]x", wantErr: "after the IPv6"},
		{in: "http://[fe80::1%25eth0]", wantErr: "invalid IPv6"},
		{in: "http://[::ffff:127.0.0.1]", wantErr: "invalid IPv6"},
		{in: "http://[127.0.0.1]", wantErr: "invalid IPv6"},
	} {
		got, err := cors.ParseOrigin(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseOrigin(%q) = %q, %v; want an error mentioning %q", tc.in, got, err, tc.wantErr)
		}
	}
}

func TestOriginOf(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":                "http://127.0.0.1:8080",
		"https://Auth.Example.com:443/tenant/": "https://auth.example.com",
		"https://auth.example.com?x#y":         "https://auth.example.com",
	} {
		if got, err := cors.OriginOf(in); err != nil || got != want {
			t.Errorf("OriginOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"auth.example.com", "ftp://auth.example.com", "https:///x"} {
		if got, err := cors.OriginOf(in); err == nil {
			t.Errorf("OriginOf(%q) = %q; want an error", in, got)
		}
	}
}

// FuzzCORS: whatever a request says, the middleware never allows
// credentials, allows an origin only by echoing an allowed one exactly,
// never answers 5xx, and lets only preflights skip the route.
func FuzzCORS(f *testing.F) {
	f.Add("GET", "https://app.example", "", "")
	f.Add("OPTIONS", "https://app.example", "PATCH", "authorization, x-account")
	f.Add("OPTIONS", "null", "GET", "")
	f.Add("OPTIONS", "HTTPS://APP.EXAMPLE:443", "GET", ",,,")
	mw, err := cors.New(policy)
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{"https://app.example": true, "http://localhost:3000": true, "https://tools.example": true, "http://[::1]:8000": true}
	f.Fuzz(func(t *testing.T, method, origin, reqMethod, reqHeaders string) {
		if !isMethod(method) {
			return
		}
		req := httptest.NewRequest(method, "/", nil)
		req.Header["Origin"] = []string{origin}
		if reqMethod != "" {
			req.Header["Access-Control-Request-Method"] = []string{reqMethod}
		}
		if reqHeaders != "" {
			req.Header["Access-Control-Request-Headers"] = []string{reqHeaders}
		}
		ran := false
		rec := httptest.NewRecorder()
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true })).ServeHTTP(rec, req)
		h := rec.Header()
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatal("Access-Control-Allow-Credentials sent")
		}
		if acao := h.Values("Access-Control-Allow-Origin"); len(acao) > 0 && (len(acao) != 1 || acao[0] != origin || !allowed[origin]) {
			t.Fatalf("Origin %q: Access-Control-Allow-Origin %q", origin, acao)
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d", rec.Code)
		}
		if preflight := method == "OPTIONS" && reqMethod != ""; ran == preflight {
			t.Fatalf("%s with Access-Control-Request-Method %q: the route ran: %v", method, reqMethod, ran)
		}
	})
}

func isMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}
