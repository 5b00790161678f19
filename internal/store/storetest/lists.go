package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Pages of users and consents, as the admin API lists them.

// testListUserPage pages through users, with and without a search.
func testListUserPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, u := range []store.User{
		{ID: "u-alice", Username: "alice", DisplayName: "Alice Archer"},
		{ID: "u-bob", Username: "Bob", DisplayName: "Robert 100% Sure_x"},
		{ID: "u-carol", Username: "carol", DisplayName: "carol"},
		{ID: "u-dave", Username: "dave.smith", DisplayName: "David"},
		{ID: "u-zed", Username: "ZED", DisplayName: "Zed"},
		{ID: "u-emile", Username: "Émile", DisplayName: "Émile Zola"},
	} {
		u.Role = store.RoleMember
		mustCreateUser(t, s, u)
	}
	ids := func(q store.UserQuery) []string {
		t.Helper()
		page, err := s.ListUserPage(ctx, q)
		if err != nil {
			t.Fatalf("ListUserPage(%+v): %v", q, err)
		}
		var out []string
		for _, u := range page {
			checkUTC(t, "user "+u.ID, u.CreatedAt, u.UpdatedAt)
			out = append(out, u.ID)
		}
		return out
	}
	for _, tt := range []struct {
		q    store.UserQuery
		want []string
	}{
		// By lower-cased username, bytewise: "é" sorts after "z".
		{store.UserQuery{Limit: 100}, []string{"u-alice", "u-bob", "u-carol", "u-dave", "u-zed", "u-emile"}},
		{store.UserQuery{Limit: 2}, []string{"u-alice", "u-bob"}},
		{store.UserQuery{Limit: 2, After: "bob"}, []string{"u-carol", "u-dave"}},
		{store.UserQuery{Limit: 2, After: "zed"}, []string{"u-emile"}},
		{store.UserQuery{Limit: 2, After: "émile"}, nil},
		{store.UserQuery{Limit: 100, Search: "ALI"}, []string{"u-alice"}},        // username
		{store.UserQuery{Limit: 100, Search: "archer"}, []string{"u-alice"}},     // display name
		{store.UserQuery{Limit: 100, Search: "ROBERT"}, []string{"u-bob"}},       // display name, other case
		{store.UserQuery{Limit: 100, Search: "ÉMILE"}, []string{"u-emile"}},      // username, non-ASCII case
		{store.UserQuery{Limit: 100, Search: "zol"}, []string{"u-emile"}},        // display name
		{store.UserQuery{Limit: 100, Search: "100%"}, []string{"u-bob"}},         // "%" is no wildcard
		{store.UserQuery{Limit: 100, Search: "%"}, []string{"u-bob"}},            //
		{store.UserQuery{Limit: 100, Search: "e_s"}, nil},                        // "_" is no wildcard: not "dave.smith"
		{store.UserQuery{Limit: 100, Search: "_"}, []string{"u-bob"}},            //
		{store.UserQuery{Limit: 100, Search: `\`}, nil},                          // nor "\" an escape
		{store.UserQuery{Limit: 2, Search: "a"}, []string{"u-alice", "u-carol"}}, // a page of matches
		{store.UserQuery{Limit: 2, Search: "a", After: "carol"}, []string{"u-dave", "u-emile"}},
		{store.UserQuery{Limit: 100, Search: "bob", After: "bob"}, nil},
		{store.UserQuery{Limit: 100, Search: "nobody"}, nil},
	} {
		if got := ids(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("ListUserPage(%+v): got %q, want %q", tt.q, got, tt.want)
		}
	}
	page, err := s.ListUserPage(ctx, store.UserQuery{Limit: 1, After: "alicd"})
	if err != nil || len(page) != 1 {
		t.Fatalf("ListUserPage = %+v, %v; want alice", page, err)
	}
	if diff := cmp.Diff(mustGetUser(t, s, "u-alice"), page[0]); diff != "" {
		t.Errorf("ListUserPage's user differs from GetUser's (-want +got):\n%s", diff)
	}
	if _, err := s.ListUserPage(ctx, store.UserQuery{}); err == nil {
		t.Error("ListUserPage without a limit: got no error")
	}
}

// testListConsentPage pages through consents by user, by client and both.
func testListConsentPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"u1", "u2", "u3"} {
		mustCreateUser(t, s, member(id))
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		mustCreate(t, s, minimalClient(id))
	}
	all := map[string]store.Consent{}
	for i, k := range [][2]string{{"u3", "c1"}, {"u1", "c3"}, {"u2", "c1"}, {"u3", "c2"}, {"u1", "c1"}} {
		c := store.Consent{UserID: k[0], ClientID: k[1], Scopes: []string{"profile", k[1]}, GrantedAt: t0.Add(time.Duration(i) * time.Minute)}
		all[k[0]+":"+k[1]] = normConsent(mustSaveConsent(t, s, c))
	}
	keys := func(q store.ConsentQuery) []string {
		t.Helper()
		page, err := s.ListConsentPage(ctx, q)
		if err != nil {
			t.Fatalf("ListConsentPage(%+v): %v", q, err)
		}
		var out []string
		for _, c := range page {
			k := c.UserID + ":" + c.ClientID
			if diff := cmp.Diff(all[k], c); diff != "" {
				t.Errorf("ListConsentPage(%+v): consent %s (-want +got):\n%s", q, k, diff)
			}
			out = append(out, k)
		}
		return out
	}
	for _, tt := range []struct {
		q    store.ConsentQuery
		want []string
	}{
		{store.ConsentQuery{Limit: 100}, []string{"u1:c1", "u1:c3", "u2:c1", "u3:c1", "u3:c2"}},
		{store.ConsentQuery{Limit: 2, AfterUser: "u1", AfterClient: "c3"}, []string{"u2:c1", "u3:c1"}},
		{store.ConsentQuery{Limit: 100, ClientID: "c1"}, []string{"u1:c1", "u2:c1", "u3:c1"}},
		{store.ConsentQuery{Limit: 2, ClientID: "c1"}, []string{"u1:c1", "u2:c1"}},
		{store.ConsentQuery{Limit: 2, ClientID: "c1", AfterUser: "u2", AfterClient: "c1"}, []string{"u3:c1"}},
		{store.ConsentQuery{Limit: 2, ClientID: "c1", AfterUser: "u3", AfterClient: "c1"}, nil},
		{store.ConsentQuery{Limit: 100, UserID: "u1"}, []string{"u1:c1", "u1:c3"}},
		{store.ConsentQuery{Limit: 1, UserID: "u1", AfterUser: "u1", AfterClient: "c1"}, []string{"u1:c3"}},
		{store.ConsentQuery{Limit: 100, UserID: "u3", ClientID: "c2"}, []string{"u3:c2"}},
		{store.ConsentQuery{Limit: 100, UserID: "u2", ClientID: "c2"}, nil},
		{store.ConsentQuery{Limit: 100, ClientID: "nothing"}, nil},
		{store.ConsentQuery{Limit: 100, UserID: "nobody"}, nil},
	} {
		if got := keys(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("ListConsentPage(%+v): got %q, want %q", tt.q, got, tt.want)
		}
	}
	if _, err := s.ListConsentPage(ctx, store.ConsentQuery{ClientID: "c1"}); err == nil {
		t.Error("ListConsentPage without a limit: got no error")
	}
}
