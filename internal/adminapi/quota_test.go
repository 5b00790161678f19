package adminapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
)

// TestClientQuotaFields: the quotas and reuse window on create, shown,
// patched (null: the server's default), refused out of range; GET .../quota
// shows the quotas in force and the tokens issued, once the node reported
// them.
func TestClientQuotaFields(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Busy", Scopes: []string{"orders"},
		TokenQuotaPerMinute: 5, TokenQuotaPerHour: -1, TokenReuseMinRemaining: 40})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var c admin.Client
	r.JSON(t, &c)
	if c.TokenQuotaPerMinute != 5 || c.TokenQuotaPerHour != -1 || c.TokenReuseMinRemaining != 40 {
		t.Fatalf("created %s: want quotas 5, -1 and reuse 40", r.Body)
	}
	r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, tok, `{"token_reuse_min_remaining":null,"token_quota_per_hour":100}`, "Content-Type", "application/merge-patch+json")
	var got admin.Client
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.TokenReuseMinRemaining != 0 || got.TokenQuotaPerHour != 100 || got.TokenQuotaPerMinute != 5 {
		t.Errorf("patch: got %d %s, want reuse absent, 5 a minute, 100 an hour", r.Status, r.Body)
	}
	for _, patch := range []string{`{"token_quota_per_minute":-5}`, `{"token_reuse_min_remaining":100}`, `{"token_quota_per_minute":"many"}`} {
		r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, tok, patch, "Content-Type", "application/merge-patch+json")
		if r.Status != http.StatusBadRequest && r.Status != http.StatusUnprocessableEntity {
			t.Errorf("patch %s: got %d %s, want 400 or 422", patch, r.Status, r.Body)
		}
	}

	secret := s.Do("POST", "/admin/v1/clients/"+c.ClientID+"/secrets", tok, nil)
	var rot admin.Rotation
	secret.JSON(t, &rot)
	s.TokenFor(c.ClientID, rot.ClientSecret, "orders")
	s.TokenFor(c.ClientID, rot.ClientSecret, "orders")
	var q admin.ClientQuota
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = s.Do("GET", "/admin/v1/clients/"+c.ClientID+"/quota", tok, nil)
		r.JSON(t, &q)
		if r.Status != http.StatusOK || q.IssuedThisMinute == 2 || time.Now().After(deadline) {
			break
		}
	}
	if r.Status != http.StatusOK || q.PerMinute != 5 || q.PerHour != 100 || q.IssuedThisMinute != 2 || q.IssuedThisHour != 2 || q.MinuteEndsAt == nil {
		t.Errorf("quota: got %d %s, want 5 a minute, 100 an hour, 2 issued in each", r.Status, r.Body)
	}
}
