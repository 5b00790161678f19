package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Dynamic client registration (RFC 7591, RFC 7592): clients' last use,
// the queries that find unused self-registered clients, and initial access
// tokens.

func testTouchClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := minimalClient("a")
	mustCreate(t, s, a)
	mustCreate(t, s, minimalClient("b"))
	steps := []struct {
		name string
		used map[string]time.Time
		want time.Time // a's UsedAt afterwards
	}{
		{"first use", map[string]time.Time{"a": t0.Add(time.Hour + 7), "unknown": t0}, t0.Add(time.Hour + 7)},
		{"earlier is ignored", map[string]time.Time{"a": t0}, t0.Add(time.Hour + 7)},
		{"zero is ignored", map[string]time.Time{"a": {}}, t0.Add(time.Hour + 7)},
		{"nil map", nil, t0.Add(time.Hour + 7)},
		{"later", map[string]time.Time{"a": t0.Add(2 * time.Hour)}, t0.Add(2 * time.Hour)},
	}
	for _, st := range steps {
		if err := s.TouchClients(ctx, st.used); err != nil {
			t.Fatalf("%s: TouchClients: %v", st.name, err)
		}
		got := mustGet(t, s, "a")
		if want := normTime(st.want); !got.UsedAt.Equal(want) || got.UsedAt.Location() != time.UTC {
			t.Errorf("%s: UsedAt = %v, want %v", st.name, got.UsedAt, want)
		}
		if !got.LastUsed().Equal(normTime(st.want)) {
			t.Errorf("%s: LastUsed() = %v, want UsedAt %v", st.name, got.LastUsed(), normTime(st.want))
		}
	}
	if got := mustGet(t, s, "b"); !got.UsedAt.IsZero() {
		t.Errorf("another client's UsedAt = %v, want zero", got.UsedAt)
	}
	// An update keeps the last use.
	if _, err := s.UpdateClient(ctx, "a", func(c *store.Client) error { c.Name = "renamed"; return nil }, evp("client.update", "a")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "a"); !got.UsedAt.Equal(normTime(t0.Add(2 * time.Hour))) {
		t.Errorf("after UpdateClient: UsedAt = %v, want it kept", got.UsedAt)
	}
	if got, want := changes(t, s), []string{"client:a", "client:b", "client:a"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q (TouchClients writes none)", got, want)
	}
}

func testListClientPageSelfRegistered(t *testing.T, s store.Store) {
	ctx := t.Context()
	cutoff := t0.Add(24 * time.Hour)
	mk := func(id, policy string, created, used, secretUsed time.Time) {
		c := minimalClient(id)
		c.SelfRegistered, c.CreatedAt, c.UsedAt = policy, created, used
		c.Secrets[0].LastUsedAt = secretUsed
		mustCreate(t, s, c)
	}
	var zero time.Time
	mk("open-idle", store.RegisteredOpen, t0, zero, zero)
	mk("open-used-before", store.RegisteredOpen, t0, t0.Add(time.Hour), zero)
	mk("open-used-after", store.RegisteredOpen, t0, cutoff, zero)
	mk("open-secret-used", store.RegisteredOpen, t0, zero, cutoff.Add(time.Second))
	mk("open-new", store.RegisteredOpen, cutoff, zero, zero)
	mk("iat-idle", store.RegisteredInitialAccessToken, t0, zero, zero)
	mk("operator-idle", "", t0, zero, zero)

	ids := func(q store.ClientQuery) []string {
		t.Helper()
		q.Limit = 100
		cs, err := s.ListClientPage(ctx, q)
		if err != nil {
			t.Fatalf("ListClientPage(%+v): %v", q, err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    store.ClientQuery
		want []string
	}{
		{store.ClientQuery{SelfRegistered: store.RegisteredOpen},
			[]string{"open-idle", "open-new", "open-secret-used", "open-used-after", "open-used-before"}},
		{store.ClientQuery{SelfRegistered: store.RegisteredOpen, IdleBefore: cutoff}, []string{"open-idle", "open-used-before"}},
		{store.ClientQuery{IdleBefore: cutoff}, []string{"iat-idle", "open-idle", "open-used-before", "operator-idle"}},
		{store.ClientQuery{SelfRegistered: store.RegisteredInitialAccessToken}, []string{"iat-idle"}},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("ListClientPage(%+v): got %q, want %q", tc.q, got, tc.want)
		}
	}
}

func iat(id string, maxUses int, expires time.Time) store.InitialAccessToken {
	return store.InitialAccessToken{ID: id, Digest: digest("token " + id), Description: "for " + id + " — ü",
		CreatedAt: t0, ExpiresAt: expires, MaxUses: maxUses}
}

func testInitialAccessTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ListInitialAccessTokens(ctx); err != nil || got != nil {
		t.Errorf("ListInitialAccessTokens on an empty store = %#v, %v; want nil, nil", got, err)
	}
	a, b := iat("iat_a", 1, t0.Add(time.Hour+1)), iat("iat_b", 5, t0.Add(48*time.Hour))
	b.CreatedAt = t0.Add(time.Second)
	for _, tok := range []store.InitialAccessToken{b, a} {
		if err := s.CreateInitialAccessToken(ctx, tok, ev("registration.token_create", tok.ID)); err != nil {
			t.Fatalf("CreateInitialAccessToken(%q): %v", tok.ID, err)
		}
	}
	normIAT := func(tok store.InitialAccessToken) store.InitialAccessToken {
		tok.CreatedAt, tok.ExpiresAt = normTime(tok.CreatedAt), normTime(tok.ExpiresAt)
		return tok
	}
	got, err := s.GetInitialAccessToken(ctx, digest("token iat_a"))
	if err != nil {
		t.Fatalf("GetInitialAccessToken: %v", err)
	}
	if diff := cmp.Diff(normIAT(a), got); diff != "" {
		t.Errorf("GetInitialAccessToken (-want +got):\n%s", diff)
	}
	checkUTC(t, "initial access token", got.CreatedAt, got.ExpiresAt)
	if _, err := s.GetInitialAccessToken(ctx, digest("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetInitialAccessToken(unknown): got %v, want ErrNotFound", err)
	}
	list, err := s.ListInitialAccessTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.InitialAccessToken{normIAT(a), normIAT(b)}, list); diff != "" {
		t.Errorf("ListInitialAccessTokens (-want +got):\n%s", diff)
	}
	// Conflicts: the same ID, or the same digest.
	dupID := iat("iat_a", 1, t0.Add(time.Hour))
	dupID.Digest = digest("other")
	dupDigest := iat("iat_c", 1, t0.Add(time.Hour))
	dupDigest.Digest = a.Digest
	for _, tok := range []store.InitialAccessToken{dupID, dupDigest} {
		if err := s.CreateInitialAccessToken(ctx, tok, ev("registration.token_create", tok.ID)); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateInitialAccessToken(%q, a duplicate): got %v, want ErrConflict", tok.ID, err)
		}
	}
	if err := s.DeleteInitialAccessToken(ctx, "iat_b", ev("registration.token_delete", "iat_b")); err != nil {
		t.Fatalf("DeleteInitialAccessToken: %v", err)
	}
	if err := s.DeleteInitialAccessToken(ctx, "iat_b", ev("registration.token_delete", "iat_b")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteInitialAccessToken again: got %v, want ErrNotFound", err)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{
		"registration.token_delete iat_b", "registration.token_create iat_a", "registration.token_create iat_b",
	}; !slices.Equal(got, want) {
		t.Errorf("audit: got %q, want %q", got, want)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("initial access tokens wrote to the change feed: %q", got)
	}
	// Prune drops the expired ones only.
	if err := s.Prune(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInitialAccessToken(ctx, a.Digest); err != nil {
		t.Errorf("after Prune before it expired: %v, want the token kept", err)
	}
	if err := s.Prune(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetInitialAccessToken(ctx, a.Digest); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after Prune after it expired: got %v, want ErrNotFound", err)
	}
}

func testCreateClientWithInitialAccessToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Hour)
	if err := s.CreateInitialAccessToken(ctx, iat("iat_two", 2, exp), ev("registration.token_create", "iat_two")); err != nil {
		t.Fatal(err)
	}
	dg := digest("token iat_two")
	register := func(id string, at time.Time) (store.InitialAccessToken, error) {
		c := fullClient(id)
		return s.CreateClientWithInitialAccessToken(ctx, c, dg, at, ev("client.create", id))
	}
	tok, err := register("c1", t0)
	if err != nil {
		t.Fatalf("first registration: %v", err)
	}
	if tok.Uses != 1 || tok.ID != "iat_two" {
		t.Errorf("first registration: token %+v, want iat_two with 1 use", tok)
	}
	if diff := cmp.Diff(norm(fullClient("c1")), mustGet(t, s, "c1")); diff != "" {
		t.Errorf("registered client (-want +got):\n%s", diff)
	}
	// A conflict does not spend a use.
	if _, err := register("c1", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a taken ID: got %v, want ErrConflict", err)
	}
	// Expired: refused, nothing written.
	if _, err := register("late", exp); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at the expiry: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetClient(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused registration created its client: %v", err)
	}
	if _, err := register("c2", t0.Add(time.Minute)); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	if _, err := register("c3", t0.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("third registration with a two-use token: got %v, want ErrNotFound", err)
	}
	if _, err := s.CreateClientWithInitialAccessToken(ctx, minimalClient("x"), digest("unknown"), t0, ev("client.create", "x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown token: got %v, want ErrNotFound", err)
	}
	got, err := s.GetInitialAccessToken(ctx, dg)
	if err != nil || got.Uses != 2 {
		t.Errorf("token after two registrations: %+v, %v; want 2 uses", got, err)
	}
	if got, want := auditActions(t, s, store.AuditFilter{Action: "client.create"}), []string{"client.create c2", "client.create c1"}; !slices.Equal(got, want) {
		t.Errorf("audit: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:c1", "client:c2"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testCreateClientWithInitialAccessTokenConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const uses, callers = 3, 8
	if err := s.CreateInitialAccessToken(ctx, iat("iat_n", uses, t0.Add(time.Hour)), ev("registration.token_create", "iat_n")); err != nil {
		t.Fatal(err)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ok  int
		bad []error
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			_, err := s.CreateClientWithInitialAccessToken(ctx, minimalClient(id), digest("token iat_n"), t0, ev("client.create", id))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNotFound):
				bad = append(bad, err)
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("unexpected errors: %v", bad)
	}
	if ok != uses {
		t.Errorf("%d concurrent registrations with a %d-use token: %d succeeded, want %d", callers, uses, ok, uses)
	}
	cs, err := s.ListClients(ctx)
	if err != nil || len(cs) != uses {
		t.Errorf("clients: %d, %v; want %d", len(cs), err, uses)
	}
}
