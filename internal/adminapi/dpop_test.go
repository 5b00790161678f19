package adminapi_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
)

// TestDPoPBoundAccessTokens: dpop_bound_access_tokens on create, shown, and
// switched off by merge patch (null: the default, false).
func TestDPoPBoundAccessTokens(t *testing.T) {
	s := apitest.Start(t)
	tok := s.AdminToken()
	r := s.Do("POST", "/admin/v1/clients", tok, admin.NewClient{Name: "Bound", Scopes: []string{"orders"}, DPoPBoundAccessTokens: true})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var c admin.Client
	r.JSON(t, &c)
	if !c.DPoPBoundAccessTokens {
		t.Fatalf("created %s: want dpop_bound_access_tokens true", r.Body)
	}
	for _, patch := range []string{`{"dpop_bound_access_tokens":false}`, `{"dpop_bound_access_tokens":true}`, `{"dpop_bound_access_tokens":null}`} {
		r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, tok, patch, "Content-Type", "application/merge-patch+json")
		var got admin.Client
		r.JSON(t, &got)
		want := patch == `{"dpop_bound_access_tokens":true}`
		if r.Status != http.StatusOK || got.DPoPBoundAccessTokens != want {
			t.Errorf("patch %s: got %d %s, want dpop_bound_access_tokens %v", patch, r.Status, r.Body, want)
		}
	}
	r = s.Do("PATCH", "/admin/v1/clients/"+c.ClientID, tok, `{"dpop_bound_access_tokens":"yes"}`, "Content-Type", "application/merge-patch+json")
	if r.Status != http.StatusBadRequest {
		t.Errorf("patch with a string: got %d %s, want 400", r.Status, r.Body)
	}
}
