package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestClientsPrivateKeyJWT: a private_key_jwt client registered with
// --jwks-file and switched to --jwks-uri; JSON shows its keys, never a
// secret; a private key file is refused.
func TestClientsPrivateKeyJWT(t *testing.T) {
	run := runner(t)
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, key any) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{KeyID: "k1", Algorithm: "ES256", Use: "sig", Key: key}}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, priv := write("jwks.json", &k.PublicKey), write("private.json", k)

	code, out, errOut := run("", "clients", "create", "--name", "Job", "--id", "job", "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", pub, "--output", "json")
	if code != 0 {
		t.Fatalf("create: exit %d, stderr %q", code, errOut)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("create --output json: %v in %q", err, out)
	}
	keys, _ := c["jwks"].(map[string]any)["keys"].([]any)
	if c["token_endpoint_auth_method"] != "private_key_jwt" || c["client_secret"] != nil || len(keys) != 1 || len(c["secrets"].([]any)) != 0 {
		t.Errorf("create: got %s, want private_key_jwt with the JWKS and no secret", out)
	}
	if _, out, _ := run("", "clients", "show", "job"); !strings.Contains(out, "registered JWKS (kid k1)") {
		t.Errorf("show: got\n%s\nwant a keys row", out)
	}

	code, out, errOut = run("", "clients", "update", "job", "--jwks-uri", "https://job.example/jwks.json", "--output", "json")
	if code != 0 {
		t.Fatalf("update --jwks-uri: exit %d, stderr %q", code, errOut)
	}
	c = nil
	if err := json.Unmarshal([]byte(out), &c); err != nil || c["jwks_uri"] != "https://job.example/jwks.json" || c["jwks"] != nil {
		t.Errorf("update --jwks-uri: got %s, want the URI and no JWKS", out)
	}

	for _, args := range [][]string{
		{"--jwks-file", priv},
		{"--jwks-uri", "http://job.example/jwks.json"},
		{"--jwks-file", pub, "--jwks-uri", "https://job.example/jwks.json"},
		{"--jwks-file", filepath.Join(dir, "missing.json")},
		{},
	} {
		a := append([]string{"clients", "create", "--name", "Bad", "--token-endpoint-auth-method", "private_key_jwt"}, args...)
		if code, _, errOut := run("", a...); code == 0 || errOut == "" {
			t.Errorf("create %v: exit %d, want a refusal", args, code)
		}
	}
	if code, _, errOut := run("", "clients", "create", "--name", "Bad", "--jwks-file", pub); code == 0 || !strings.Contains(errOut, "only for the private_key_jwt") {
		t.Errorf("a JWKS with a secret method: exit %d, stderr %q; want a refusal", code, errOut)
	}
}
