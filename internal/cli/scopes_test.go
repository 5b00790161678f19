package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// runScopes runs the gatehouse command line with args and an empty
// environment and standard input.
func runScopes(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeCatalog(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "scopes.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const ordersCatalog = `scopes:
  orders:read:
    label: Read your orders
    endpoints:
      - orders/*: [GET]
      - customers/me: GET
  orders:
    label: Read and change your orders
    endpoints:
      - orders/*
`

func TestScopesCheck(t *testing.T) {
	good := writeCatalog(t, ordersCatalog)
	one := writeCatalog(t, "scopes:\n  a: {label: A, endpoints: [x]}\n")
	bad := writeCatalog(t, `scopes:
  a: {}
  b:
    label: B
    endpoints:
      - x//y
      - z: FETCH
`)
	unwrapped := writeCatalog(t, `profile:
  label: Access your profile information
  endpoints:
    - workers/me: GET
api:
  label: Make any API request on your behalf
  endpoints:
    - "*"
  default: true
`)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // a substring; "" means none at all
	}{
		{"valid", []string{"scopes", "check", good}, 0, good + ": 2 scopes, 3 endpoints, ok\n", ""},
		{"one of each", []string{"scopes", "check", one}, 0, one + ": 1 scope, 1 endpoint, ok\n", ""},
		{"default", []string{"scopes", "check", "default"}, 0, "default: 4 scopes, 4 endpoints, ok\n", ""},
		{"invalid", []string{"scopes", "check", bad}, 1, "",
			bad + `: line 2: scope "a": missing label` + "\n" +
				bad + `: line 6: scope "b": endpoint "x//y": empty path segment ("//")` + "\n" +
				bad + `: line 7: scope "b": endpoint "z": unknown HTTP method "FETCH" (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)` + "\n" +
				"gatehouse: " + bad + ": 3 problems\n"},
		{"unwrapped, as platforms print it", []string{"scopes", "check", unwrapped}, 0, unwrapped + ": 2 scopes, 2 endpoints, ok\n", ""},
		{"missing file", []string{"scopes", "check", missing}, 1, "", "missing.yaml: no such file or directory"},
		{"no file", []string{"scopes", "check"}, 2, "", "gatehouse: gatehouse scopes check takes FILE (got 0 arguments)\n"},
		{"two files", []string{"scopes", "check", good, good}, 2, "", "takes FILE (got 2 arguments)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runScopes(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			if tt.wantStderr == "" && stderr != "" || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want %q in it", stderr, tt.wantStderr)
			}
		})
	}
}

func TestScopesExplain(t *testing.T) {
	orders := writeCatalog(t, ordersCatalog)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"allowed by three", []string{"default", "GET", "/records/7/search"}, `GET /records/7/search

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         yes      records/*/search allows GET, HEAD
api:read-only  yes      * allows GET, HEAD
api            yes      * allows every method

allowed by: search api:read-only api
`},
		{"method matters", []string{"default", "post", "records/7/search"}, `POST /records/7/search

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         no       records/*/search matches, but allows only GET, HEAD
api:read-only  no       * matches, but allows only GET, HEAD
api            yes      * allows every method

allowed by: api
`},
		{"cleaned path", []string{"default", "HEAD", "/workers/me/../../admin/?q=1"}, `HEAD /admin (cleaned from "/workers/me/../../admin/?q=1")

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         no       no endpoint matches the path
api:read-only  yes      * allows GET, HEAD
api            yes      * allows every method

allowed by: api:read-only api
`},
		{"encoded slash", []string{"--allow-encoded-slashes", "default", "GET", "/records%2F7%2Fsearch"}, `GET /records%2F7%2Fsearch

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         no       no endpoint matches the path
api:read-only  yes      * allows GET, HEAD
api            yes      * allows every method

allowed by: api:read-only api
`},
		{"root", []string{"default", "GET", "/"}, `GET / (the API root, which no endpoint pattern matches)

SCOPE          ALLOWED  WHY
profile        no       no endpoint matches the path
search         no       no endpoint matches the path
api:read-only  no       no endpoint matches the path
api            no       no endpoint matches the path

allowed by no scope
`},
		{"file", []string{orders, "DELETE", "/customers/me"}, `DELETE /customers/me

SCOPE        ALLOWED  WHY
orders:read  no       customers/me matches, but allows only GET, HEAD
orders       no       no endpoint matches the path

allowed by no scope
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runScopes(t, append([]string{"scopes", "explain"}, tt.args...)...)
			if code != 0 || stderr != "" {
				t.Errorf("exit code %d, stderr %q; want 0 and nothing", code, stderr)
			}
			if diff := cmp.Diff(tt.want, stdout); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScopesExplainErrors(t *testing.T) {
	bad := writeCatalog(t, "scopes:\n  a: {}\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"above the root", []string{"default", "GET", "/a/../../admin"}, 2,
			`gatehouse: PATH: invalid path "/a/../../admin": ".." goes above the root` + "\n"},
		{"bad escape", []string{"default", "GET", "/a/%zz"}, 2,
			`gatehouse: PATH: invalid path "/a/%zz": invalid escape "%zz"` + "\n"},
		{"encoded slash", []string{"default", "GET", "/records%2F7%2Fsearch"}, 2,
			`gatehouse: PATH: invalid path "/records%2F7%2Fsearch": encoded "/" ("%2F"): servers disagree on whether it separates segments` + "\n"},
		{"hidden dot segment", []string{"--allow-encoded-slashes", "default", "GET", "/records/x%2F..%2Fadmin"}, 2,
			`gatehouse: PATH: invalid path "/records/x%2F..%2Fadmin": segment "x/../admin" has an encoded "/" next to a "." or ".." part` + "\n"},
		{"URL", []string{"default", "GET", "https://api.example.com/records"}, 2,
			`gatehouse: PATH "https://api.example.com/records": give the path relative to the API's base path, e.g. /records/7/search, not a URL` + "\n"},
		{"bad method", []string{"default", "G T", "/records"}, 2,
			`gatehouse: METHOD "G T" is not an HTTP method; use e.g. GET or POST` + "\n"},
		{"empty method", []string{"default", "", "/records"}, 2,
			`gatehouse: METHOD "" is not an HTTP method; use e.g. GET or POST` + "\n"},
		{"invalid catalog", []string{bad, "GET", "/records"}, 1,
			"gatehouse: " + bad + `: line 2: scope "a": missing label` + "\n"},
		{"missing argument", []string{"default", "GET"}, 2,
			"gatehouse: gatehouse scopes explain takes FILE METHOD PATH (got 2 arguments)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runScopes(t, append([]string{"scopes", "explain"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
		})
	}
}
