package resource

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestObserveCall(t *testing.T) {
	iss := newIssuer(t)
	var mu sync.Mutex
	var calls []Call
	e := newEnv(t, iss, func(c *Config) {
		c.BasePath = "/api"
		c.ObserveCall = func(_ *http.Request, call Call) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call)
		}
	})
	tests := []struct {
		scope, method, path string
		want                Call
	}{
		// The most specific pattern that allowed the call, never the path.
		{"search api:read-only", "GET", "/api/records/7/search", Call{Allowed: true, ClientID: "client-1", Pattern: "records/*/search"}},
		{"api:read-only", "GET", "/api/records/7", Call{Allowed: true, ClientID: "client-1", Pattern: "*"}},
		{"profile", "GET", "/api/workers/me", Call{Allowed: true, ClientID: "client-1", Pattern: "workers/me"}},
		// Refused with a verified token: the client and the pattern matched.
		{"profile", "PUT", "/api/workers/me", Call{Reason: ReasonInsufficientScope, ClientID: "client-1", Pattern: "*"}},
		{"search", "GET", "/api/records/7/search", Call{Allowed: true, ClientID: "client-1", Pattern: "records/*/search"}},
		// Refused without one: no client (an unverified claim would let
		// anyone charge calls to any client).
		{"", "GET", "/api/records/7/search", Call{Reason: ReasonMissingToken, Pattern: "records/*/search"}},
		{"bad", "GET", "/api/workers/me", Call{Reason: ReasonInvalidToken, Pattern: "workers/me"}},
		{"", "GET", "/elsewhere", Call{Reason: ReasonOutsideBasePath}},
	}
	for _, tt := range tests {
		tok := ""
		switch tt.scope {
		case "":
		case "bad":
			tok = "not.a.token"
		default:
			tok = iss.token(tt.scope)
		}
		e.do(tt.method, tt.path, tok)
		mu.Lock()
		if len(calls) != 1 {
			t.Fatalf("%s %s: ObserveCall called %d times, want once", tt.method, tt.path, len(calls))
		}
		got := calls[0]
		calls = nil
		mu.Unlock()
		if got.At.IsZero() {
			t.Errorf("%s %s: Call.At is zero", tt.method, tt.path)
		}
		got.At = tt.want.At
		if got != tt.want {
			t.Errorf("%s %s (%q): got %+v, want %+v", tt.method, tt.path, tt.scope, got, tt.want)
		}
	}
}

// A revoked token was verified: its refusal is its client's, so that a
// client whose revoked (say, leaked) tokens are still in use shows it.
func TestObserveCallRevoked(t *testing.T) {
	iss := newIssuer(t)
	c := iss.claims("api")
	tok := iss.mint(c)
	iss.revoke(c.JTI, c.ExpiresAt)
	var mu sync.Mutex
	var last Call
	e := newEnv(t, iss, func(cfg *Config) {
		cfg.RevocationPoll = testPoll
		cfg.ObserveCall = func(_ *http.Request, call Call) {
			mu.Lock()
			defer mu.Unlock()
			last = call
		}
	})
	eventually(t, 2*time.Second, "the revoked token refused", func() bool {
		return e.do("GET", "/records/1", tok).Code == 401
	})
	mu.Lock()
	defer mu.Unlock()
	if last.Reason != ReasonRevoked || last.ClientID != "client-1" || last.Pattern != "*" {
		t.Errorf("got %+v, want revoked, client-1, pattern *", last)
	}
	// A token that does not verify names no client.
	mu.Unlock()
	e.do("GET", "/records/1", tok[:len(tok)-4]+"AAAA")
	mu.Lock()
	if last.Reason != ReasonInvalidToken || last.ClientID != "" {
		t.Errorf("badly signed token: got %+v, want invalid_token and no client", last)
	}
}
