package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestRevocationFeedSection(t *testing.T) {
	path := writeFile(t, "revocation_feed:\n  require_scope: gatehouse:revocations\n")
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := c.RevocationFeed.RequireScope, "gatehouse:revocations"; got != want {
		t.Errorf("revocation_feed.require_scope: got %q, want %q", got, want)
	}
	if got := config.Default().RevocationFeed.RequireScope; got != "" {
		t.Errorf("default revocation_feed.require_scope: got %q, want \"\" (an open feed)", got)
	}

	path = writeFile(t, "revocation_feed:\n  scope: x\n")
	_, err = config.Load(path, nil)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load with an unknown key: got %v, want *config.Error", err)
	}
	want := []string{`line 2: unknown key "scope" in revocation_feed (known keys: require_scope)`}
	if diff := cmp.Diff(want, ce.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateRevocationFeedScope(t *testing.T) {
	const fix = "; use one scope name such as gatehouse:revocations, or leave it empty for an open feed"
	// wantErr is the whole message, or its start and end around "…",
	// where the scope package explains what is wrong.
	tests := []struct{ scope, wantErr string }{
		{"", ""},
		{"gatehouse:revocations", ""},
		{"feed", ""},
		{"a b", `revocation_feed.require_scope "a b" names several scopes` + fix},
		{"a a", `revocation_feed.require_scope "a a" names several scopes` + fix},
		{" a", `revocation_feed.require_scope " a" is not a scope name (invalid scope " a": empty scope token…)` + fix},
		{`say"hi"`, `revocation_feed.require_scope "say\"hi\"" is not a scope name (invalid scope token…)` + fix},
		{"é", `revocation_feed.require_scope "é" is not a scope name (invalid scope token…)` + fix},
		{"account:acme", `revocation_feed.require_scope "account:acme": the "account:" prefix is reserved for account-restricted tokens` + fix},
	}
	for _, tt := range tests {
		c := config.Default()
		c.RevocationFeed.RequireScope = tt.scope
		var got string
		if err := c.Validate(); err != nil {
			got = err.Error()
		}
		ok := got == tt.wantErr
		if start, end, cut := strings.Cut(tt.wantErr, "…"); cut {
			ok = strings.HasPrefix(got, start) && strings.HasSuffix(got, end) && len(got) >= len(start)+len(end)
		}
		if !ok {
			t.Errorf("require_scope %q: Validate() = %q, want %q", tt.scope, got, tt.wantErr)
		}
	}

	// The feed's path is the server's own: no token alias may take it.
	c := config.Default()
	c.Token.AliasPaths = []string{"/oauth/revocations"}
	want := `token.alias_paths[0] "/oauth/revocations" is a built-in path of the server; choose another, e.g. /oauth/v2/token`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("alias /oauth/revocations: Validate() = %v, want %q", err, want)
	}
}
