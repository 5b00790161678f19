package oauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

func TestConstructors(t *testing.T) {
	for _, tc := range []struct {
		err    *oauth.Error
		code   string
		status int
	}{
		{oauth.InvalidRequest("x"), oauth.CodeInvalidRequest, http.StatusBadRequest},
		{oauth.InvalidClient("x"), oauth.CodeInvalidClient, http.StatusUnauthorized},
		{oauth.InvalidGrant("x"), oauth.CodeInvalidGrant, http.StatusBadRequest},
		{oauth.UnauthorizedClient("x"), oauth.CodeUnauthorizedClient, http.StatusBadRequest},
		{oauth.UnsupportedGrantType("x"), oauth.CodeUnsupportedGrantType, http.StatusBadRequest},
		{oauth.InvalidScope("x"), oauth.CodeInvalidScope, http.StatusBadRequest},
		{oauth.InvalidTarget("x"), oauth.CodeInvalidTarget, http.StatusBadRequest},
		{oauth.UnsupportedTokenType("x"), oauth.CodeUnsupportedTokenType, http.StatusBadRequest},
		{oauth.ServerError(), oauth.CodeServerError, http.StatusInternalServerError},
		{oauth.TooManyRequests(3), oauth.CodeInvalidRequest, http.StatusTooManyRequests},
		{oauth.TemporarilyUnavailable(5), oauth.CodeTemporarilyUnavailable, http.StatusServiceUnavailable},
		{oauth.MethodNotAllowed("PUT"), oauth.CodeInvalidRequest, http.StatusMethodNotAllowed},
	} {
		if tc.err.Code != tc.code || tc.err.Status != tc.status {
			t.Errorf("%v: code %q, status %d; want %q, %d", tc.err, tc.err.Code, tc.err.Status, tc.code, tc.status)
		}
	}
	// Fresh values: changing one does not change the next.
	a := oauth.ServerError()
	a.Description = "changed"
	if b := oauth.ServerError(); b.Description != "internal error" {
		t.Errorf("ServerError().Description = %q after another was changed", b.Description)
	}
}

func ExampleError() {
	var err error = fmt.Errorf("token: %w", oauth.InvalidScope("scope %q is not allowed", "api"))
	var oe *oauth.Error
	if errors.As(err, &oe) {
		fmt.Println(oe.Status, oe.Code)
		fmt.Println(oe)
	}
	// Output:
	// 400 invalid_scope
	// invalid_scope: scope "api" is not allowed
}
