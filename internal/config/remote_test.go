package config_test

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestRemote(t *testing.T) {
	env := map[string]string{"GATEHOUSE_SERVER": "https://auth.example.com", "GATEHOUSE_CLIENT_ID": "cli", "GATEHOUSE_CLIENT_SECRET": "s3cret"}
	r := config.LoadRemote(func(k string) string { return env[k] })
	if r != (config.Remote{Server: "https://auth.example.com", ClientID: "cli", ClientSecret: "s3cret"}) {
		t.Fatalf("LoadRemote: %+v", r)
	}
	for _, tc := range []struct {
		server string
		want   string // in the error; "" for none
	}{
		{"https://auth.example.com", ""},
		{"https://auth.example.com/gatehouse/", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://127.1.2.3:8080", ""},
		{"http://[::1]:8080", ""},
		{"http://LOCALHOST:8080", ""},
		{"http://auth.example.com", "use https"},
		{"http://10.0.0.1:8080", "use https"},
		{"ftp://auth.example.com", "not an http(s) URL"},
		{"auth.example.com", "not an http(s) URL"},
		{"https://", "not an http(s) URL"},
		{"https://auth.example.com/?x=1", "without a query or fragment"},
		{"https://auth.example.com/#top", "without a query or fragment"},
		{"https://u:pw@auth.example.com", `"https://u:xxxxx@auth.example.com" holds credentials`},
		{"", "set --server or GATEHOUSE_SERVER"},
	} {
		r.Server = tc.server
		err := r.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("server %q: %v, want no error", tc.server, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("server %q: %v, want an error about %q", tc.server, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("server %q: the error shows the password: %v", tc.server, err)
		}
	}
}
