package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

func TestParseForm(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    map[string]string
		wantErr string
	}{
		{"grant_type=client_credentials&scope=a+b", map[string]string{"grant_type": "client_credentials", "scope": "a b"}, ""},
		{"scope=a%20b&&x=", map[string]string{"scope": "a b", "x": ""}, ""},
		{"", map[string]string{}, ""},
		{"a=1&a=2", nil, `parameter "a" is repeated`},
		{"a=1&a=", nil, `parameter "a" is repeated`},
		{"a=%zz", nil, "bad encoding"},
		{"a=%ff", nil, "not valid UTF-8"},
		{strings.Repeat("k=v&", 1) + strings.Repeat("x", 0), map[string]string{"k": "v"}, ""},
	} {
		var f form
		err := parseForm([]byte(tc.body), &f)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: got error %v, want %q", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: got error %v", tc.body, err)
			continue
		}
		for k, v := range tc.want {
			if got := f.Get(k); got != v {
				t.Errorf("%q: %s: got %q, want %q", tc.body, k, got, v)
			}
		}
	}
	var many strings.Builder
	for i := 0; i <= maxParams; i++ {
		many.WriteString("p" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "=1&")
	}
	var f form
	if err := parseForm([]byte(many.String()), &f); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("%d parameters: got %v, want too many", maxParams+1, err)
	}
}

func TestBasicCredentials(t *testing.T) {
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		header          string
		id, secret, alt string
		ok, wantErr     bool
	}{
		{"", "", "", "", false, false},
		{"Bearer abc", "", "", "", false, false},
		{b64("app:s3cret"), "app", "s3cret", "", true, false},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("app:s3cret")), "app", "s3cret", "", true, false},
		{b64("my%20app:a%3Ab+c"), "my app", "a:b c", "a%3Ab+c", true, false},
		{b64("app:with:colon"), "app", "with:colon", "", true, false},
		// Raw secrets as curl -u sends them: both forms are candidates.
		{b64("app:a+b/c=d"), "app", "a b/c=d", "a+b/c=d", true, false},
		{b64("app:50%25+off"), "app", "50% off", "50%25+off", true, false},
		// The client ID: encoded and raw both resolve.
		{b64("app%2Eone:x"), "app.one", "x", "", true, false},
		{b64("app.one:x"), "app.one", "x", "", true, false},
		// Not valid form-urlencoding: the raw form alone.
		{b64("a%zz:b"), "a%zz", "b", "", true, false},
		{b64("app:100%"), "app", "100%", "", true, false},
		{b64("app:%ff"), "app", "%ff", "", true, false},
		{b64("app"), "", "", "", true, true},
		{b64(":secret"), "", "", "", true, true},
		{"Basic %%%", "", "", "", true, true},
		{b64("a:\xff"), "", "", "", true, true},
	} {
		id, secret, alt, ok, err := basicCredentials(tc.header)
		if id != tc.id || secret != tc.secret || alt != tc.alt || ok != tc.ok || (err != nil) != tc.wantErr {
			t.Errorf("%q: got (%q, %q, %q, %v, %v), want (%q, %q, %q, %v, err=%v)", tc.header, id, secret, alt, ok, err, tc.id, tc.secret, tc.alt, tc.ok, tc.wantErr)
		}
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials&scope=a+b", "a=1&a=2", "%", "a=%ff", "&&=&", "x=" + strings.Repeat("%41", 10)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fm form
		err := parseForm(body, &fm)
		if err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Status != 400 {
				t.Fatalf("got %v, want a 400 oauth error", err)
			}
			return
		}
		for i := 0; i < fm.n; i++ {
			if !utf8.ValidString(fm.pairs[i][0]) || !utf8.ValidString(fm.pairs[i][1]) {
				t.Fatalf("invalid UTF-8 accepted")
			}
			for j := 0; j < i; j++ {
				if fm.pairs[i][0] == fm.pairs[j][0] {
					t.Fatalf("repeated key %q accepted", fm.pairs[i][0])
				}
			}
		}
	})
}

func FuzzBasicCredentials(f *testing.F) {
	for _, s := range []string{"Basic YXBwOnMzY3JldA==", "Basic ", "basic Og==", "Basic %%", "Bearer x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, secret, alt, ok, err := basicCredentials(header)
		if err != nil {
			var oe *oauth.Error
			if !errors.As(err, &oe) || oe.Code != oauth.CodeInvalidRequest {
				t.Fatalf("got %v, want invalid_request", err)
			}
			return
		}
		if ok && (id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) || !utf8.ValidString(alt)) {
			t.Fatalf("accepted id %q secret %q alt %q", id, secret, alt)
		}
		if alt != "" && alt == secret {
			t.Fatalf("alt %q repeats the secret", alt)
		}
	})
}

// FuzzTokenEndpoint sends arbitrary bodies and Authorization headers through
// the whole handler: it must never answer 500 or panic.
func FuzzTokenEndpoint(f *testing.F) {
	h := newHarness(f)
	if _, _, err := h.svc.Create(context.Background(), "fuzz", clients.Spec{ID: "fuzz-app", Name: "fuzz", Scopes: []string{"search"}, Accounts: []string{"*"}}); err != nil {
		f.Fatal(err)
	}
	f.Add("grant_type=client_credentials", "Basic ZnV6ei1hcHA6eA==")
	f.Add("grant_type=client_credentials&scope=account%3A", "")
	f.Add("client_id=fuzz-app&client_secret=x&grant_type=client_credentials&scope=search+api", "")
	f.Fuzz(func(t *testing.T, body, authz string) {
		req := httptest.NewRequest("POST", PathToken, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		w := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
	})
}

func digestOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}
