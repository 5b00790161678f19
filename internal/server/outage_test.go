package server

import (
	"database/sql"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/clients"
)

// wantUnavailable checks an RFC 6749 §5.2 temporarily_unavailable answer:
// 503 with a small Retry-After.
func wantUnavailable(t *testing.T, r response) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 30 {
		t.Errorf("Retry-After: got %q, want a few seconds", r.header.Get("Retry-After"))
	}
}

// TestStoreUnavailable: with the store gone, every endpoint that needs it
// answers 503 temporarily_unavailable with Retry-After, not 500; a client
// already in the cache still gets tokens.
func TestStoreUnavailable(t *testing.T) {
	h := newHarness(t)
	cached, cachedSecret := h.client(clients.Spec{})
	uncached, uncachedSecret := h.client(clients.Spec{})
	r := h.token(cached, cachedSecret, "")
	if r.status != 200 {
		t.Fatalf("token: got %d %s", r.status, r.body)
	}
	at, _ := r.json["access_token"].(string)
	h.st.Close()

	get := func(path string) response {
		req, _ := http.NewRequest("GET", h.http.URL+path, nil)
		return h.do(req)
	}
	for _, tc := range []struct {
		name string
		do   func() response
	}{
		{"introspect", func() response {
			return h.post(PathIntrospect, "token="+at, map[string]string{"Authorization": basic(cached, cachedSecret)})
		}},
		{"revocation feed", func() response { return h.feedGet("", nil) }},
		{"token, client not cached", func() response { return h.token(uncached, uncachedSecret, "") }},
		{"revoke", func() response {
			return h.post(PathRevoke, "token="+at, map[string]string{"Authorization": basic(cached, cachedSecret)})
		}},
		{"readyz", func() response { return get("/readyz") }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantUnavailable(t, tc.do()) })
	}
	if r := h.token(cached, cachedSecret, ""); r.status != 200 {
		t.Errorf("token for a cached client with the store down: got %d %s, want 200", r.status, r.body)
	}
}

// TestAuthorizeStoreUnavailable: the authorization endpoint and the console
// show an error page with 503 and Retry-After when the store is gone, and
// do not send a logged-in user back to the login page.
func TestAuthorizeStoreUnavailable(t *testing.T) {
	ah := newAuthzHarness(t)
	id, _ := ah.app(clients.Spec{})
	ah.login()
	ah.st.Close()
	_, challenge := pkce(t)
	for _, path := range []string{authorizePath(authzParamsFor(id, challenge, "")), "/console/authorized-apps"} {
		p := ah.get(path)
		if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" {
			t.Errorf("GET %s: got %d, Retry-After %q; want 503 with Retry-After\n%s", path, p.status, p.header.Get("Retry-After"), p.body)
		}
		if !strings.Contains(p.body, "temporarily unavailable") {
			t.Errorf("GET %s: the page does not say the service is temporarily unavailable:\n%s", path, p.body)
		}
	}
}

// TestReadyzSchemaVersion: /readyz checks the database's schema version
// against the one this build expects: behind is not ready (503, naming
// both versions); ahead (a newer release migrated it) is.
func TestReadyzSchemaVersion(t *testing.T) {
	h := newHarness(t)
	db, err := sql.Open("sqlite", h.dbDir+"/gatehouse.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var latest int64
	if err := db.QueryRow("SELECT max(version_id) FROM goose_db_version").Scan(&latest); err != nil {
		t.Fatal(err)
	}
	readyz := func() response {
		req, _ := http.NewRequest("GET", h.http.URL+"/readyz", nil)
		return h.do(req)
	}
	if r := readyz(); r.status != 200 || r.json["schema_version"] != float64(latest) {
		t.Fatalf("readyz: got %d %s, want 200 with schema_version %d", r.status, r.body, latest)
	}

	// Behind: as if the database were restored from an older backup.
	if _, err := db.Exec("DELETE FROM goose_db_version WHERE version_id = ?", latest); err != nil {
		t.Fatal(err)
	}
	var prev int64
	if err := db.QueryRow("SELECT max(version_id) FROM goose_db_version").Scan(&prev); err != nil {
		t.Fatal(err)
	}
	r := readyz()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.json["error"] != "temporarily_unavailable" {
		t.Fatalf("readyz with the schema behind: got %d %s (Retry-After %q), want 503 temporarily_unavailable with Retry-After",
			r.status, r.body, r.header.Get("Retry-After"))
	}
	desc, _ := r.json["error_description"].(string)
	if want := "version " + strconv.FormatInt(prev, 10); !strings.Contains(desc, want) || !strings.Contains(desc, "migrate") {
		t.Errorf("readyz description: got %q, want it to name %q and gatehouse migrate", desc, want)
	}
	if r.json["schema_version"] != float64(prev) || r.json["expected_schema_version"] != float64(latest) {
		t.Errorf("readyz body: got %s, want schema_version %d and expected_schema_version %d", r.body, prev, latest)
	}

	// Ahead: a newer release migrated the database during a rolling upgrade.
	if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1), (?, 1)", latest, latest+1); err != nil {
		t.Fatal(err)
	}
	if r := readyz(); r.status != 200 {
		t.Errorf("readyz with the schema ahead: got %d %s, want 200", r.status, r.body)
	}
}
