package adminapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/adminapi/apitest"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/usage"
)

func TestUsageReportAndRead(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	appID, appSecret := srv.Client([]string{"orders"}, nil)
	// Three tokens for the app: counted in memory, written by Flush.
	for range 3 {
		srv.TokenFor(appID, appSecret, "orders")
	}
	srv.Usage.Flush(ctx)

	gwToken := srv.Token([]string{adminapi.ScopeUsage}, nil, adminapi.ScopeUsage)
	gw := admin.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: gwToken, TokenType: "Bearer"}))
	now := time.Now().UTC().Truncate(time.Second)
	if err := gw.ReportUsage(ctx, admin.UsageReport{Calls: []admin.UsageCalls{
		{ClientID: appID, Pattern: "orders/*", Allowed: 5, Denied: map[string]int64{"insufficient_scope": 2}, LastSeen: now},
		{ClientID: "", Pattern: "orders/*", Denied: map[string]int64{"missing_token": 9}, LastSeen: now},
		{ClientID: "no-such-client", Pattern: "orders/*", Allowed: 1, LastSeen: now},
	}}); err != nil {
		t.Fatalf("ReportUsage: %v", err)
	}
	// The gateway's token may report, not read.
	if _, err := gw.ClientUsage(ctx, appID, 0); !isStatus(err, http.StatusForbidden) {
		t.Errorf("ClientUsage with a gatehouse:usage token: got %v, want 403", err)
	}

	reader := admin.New(srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token([]string{adminapi.ScopeAdminRead}, nil, adminapi.ScopeAdminRead), TokenType: "Bearer"}))
	// A reader may not report.
	if err := reader.ReportUsage(ctx, admin.UsageReport{}); !isStatus(err, http.StatusForbidden) {
		t.Errorf("ReportUsage with a gatehouse:admin:read token: got %v, want 403", err)
	}
	u, err := reader.ClientUsage(ctx, appID, 7)
	if err != nil {
		t.Fatalf("ClientUsage: %v", err)
	}
	if len(u.Tokens) != 1 || u.Tokens[0].Count != 3 || u.Tokens[0].Day != usage.Day(time.Now()) {
		t.Errorf("tokens: got %+v, want 3 today", u.Tokens)
	}
	if len(u.Calls) != 1 || u.Calls[0].Pattern != "orders/*" || u.Calls[0].Allowed != 5 || u.Calls[0].Denied["insufficient_scope"] != 2 {
		t.Errorf("calls: got %+v, want orders/*: 5 allowed, 2 insufficient_scope", u.Calls)
	}
	if len(u.Denials) != 1 || u.Denials["insufficient_scope"] != 2 {
		t.Errorf("denials: got %v, want insufficient_scope: 2 (calls without a client are no client's)", u.Denials)
	}
	if len(u.Secrets) != 1 || u.Secrets[0].Hint == "" {
		t.Errorf("secrets: got %+v, want the one secret", u.Secrets)
	}
	if len(u.Addresses) != 1 || u.Addresses[0].Address != "127.0.0.1" || u.Addresses[0].Count != 3 {
		t.Errorf("addresses: got %+v, want 127.0.0.1 three times", u.Addresses)
	}

	// The new address was audited once; more tokens from it are not new.
	srv.TokenFor(appID, appSecret, "orders")
	srv.Usage.Flush(ctx)
	evs, err := srv.Store.ListAudit(ctx, store.AuditFilter{Target: appID, Action: usage.ActionNewAddress})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Detail != "first token request from 127.0.0.1" {
		t.Errorf("new-address audit events: got %+v, want one for 127.0.0.1", evs)
	}
}

func isStatus(err error, status int) bool {
	p, ok := err.(*admin.Problem)
	return ok && p.Status == status
}
