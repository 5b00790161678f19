// Package storetest is the conformance suite for store.Store backends: what
// it checks is the storage contract, beyond what the interface's comments
// say. Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// Guarantees checked here in addition to those documented on store.Store:
//
//   - Every time is truncated to microseconds when written and returned in
//     UTC; the zero time.Time round-trips as zero.
//   - Durations round-trip exactly.
//   - Every empty slice the store returns is nil: a client's list fields and
//     Secrets, a secret's Digest, a key's Encrypted, and the results of the
//     List methods and Changes. Writing an empty non-nil slice reads back
//     as nil.
//   - Secret IDs are unique across the whole store: creating or updating a
//     client with a secret ID that another client (or the same client twice)
//     uses fails with store.ErrConflict and writes nothing.
//   - A failed call (ErrNotFound, ErrConflict, an error from an update
//     function) writes nothing: no record, no change-feed entry, no audit
//     event.
//   - UpdateClient returns the client as stored; it changes no timestamps
//     of its own accord. An update function that changes the ID makes
//     UpdateClient fail without writing anything.
//   - Removing a signing key that does not exist is not an error; adding
//     one whose ID exists is store.ErrConflict.
//   - ListAudit orders by the store-assigned ID, newest first; IDs increase.
//   - Every change to a client or key (create, update, delete, key add and
//     remove) writes one change-feed entry with the store's current time;
//     TouchSecrets, RevokeToken and failed calls write none.
//   - RevokeToken stamps RevokedAt with the store's current time the first
//     time it records a jti; revoking it again changes neither RevokedAt nor
//     the feed order. ListRevocations compares and orders JTIs bytewise.
//   - A backend that offers ObserveRevocations reports each successful
//     RevokeToken and RevokeClientTokens, as given, by the time it
//     returns, and no failed one.
//   - RevokeClientTokens stores IssuedBefore and ExpiresAt to the
//     microsecond and stamps RevokedAt with the store's current time each
//     time it moves either forward (and only then); it writes no
//     change-feed entry. ListRevocations orders a client's revocation with
//     the tokens' by RevokedAt, and client IDs bytewise. IsTokenRevoked
//     compares issuedAt with IssuedBefore to the microsecond, and only for
//     the token's own client. A client's revocation outlives the client.
//     Of a rotation concurrent with RevokeClientTokens, the token it
//     creates is revoked too.
//   - Usernames are unique after strings.ToLower, also for non-ASCII
//     letters; the username itself round-trips as given. CreateUser,
//     CreateUserWithPasswordToken, UpdateUser and RedeemPasswordToken
//     record their audit event; nothing else about people does except
//     DeleteUser and DeleteConsent. Nothing about people writes to the
//     change feed.
//   - Sessions, consents, authorization codes and refresh tokens refer to
//     existing users and clients (ErrNotFound otherwise); deleting a client
//     deletes its consents, codes and refresh tokens.
//   - Of concurrent RedeemAuthCode calls for one code exactly one succeeds;
//     the others get ErrUsed and the stored code. Of concurrent
//     RotateRefreshToken calls for one token exactly one succeeds; the
//     others get ErrReused and the family ends up revoked. A revocation
//     concurrent with rotations also revokes the tokens they create.
//   - Concurrent UpdateConsent calls for one user and client each see what
//     the previous one saved, whether or not the consent existed before:
//     none loses another's scopes.
//   - A refresh token's ClientID, UserID, FamilyExpiresAt and RevokedAt
//     are its family's.
//   - Of concurrent changes that each take one of the last two enabled
//     administrators away (UpdateUser demoting or disabling, DeleteUser),
//     each refusing to leave none, exactly one succeeds.
//   - Of concurrent RedeemPasswordToken calls with one token exactly one
//     succeeds; the others get ErrNotFound. A change of a user's password
//     hash by UpdateUser, and DeleteUser, delete the user's set-password
//     tokens; other changes keep them.
//   - ListUserPage and ListConsentPage order and compare bytewise; their
//     searches take "%", "_" and "\" literally.
//   - Of concurrent RedeemSetupToken calls, with one setup token or with
//     several, exactly one succeeds; the others get ErrUsed. Setup tokens
//     write neither audit events nor change-feed entries; a successful
//     RedeemSetupToken records its one event.
//   - A new store is migrated to the newest schema version it embeds.
//   - After Close, every call fails with an error wrapping
//     store.ErrUnavailable, and ErrNotFound is not among them.
package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Run runs the conformance suite. Each subtest calls open for a new, empty
// store; open must arrange for the store to be closed when that subtest ends
// (t.Cleanup). Subtests run one after another.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"CreateGetRoundTrip", testCreateGetRoundTrip},
		{"EmptyValues", testEmptyValues},
		{"SecretsOrderedByCreatedAt", testSecretsOrder},
		{"CreateConflict", testCreateConflict},
		{"NotFound", testNotFound},
		{"ListClientsOrder", testListClientsOrder},
		{"ListClientPage", testListClientPage},
		{"UpdateClientReplaces", testUpdateClientReplaces},
		{"UpdateClientFailuresWriteNothing", testUpdateClientFailures},
		{"UpdateClientConcurrent", testUpdateClientConcurrent},
		{"DeleteClient", testDeleteClient},
		{"TouchSecrets", testTouchSecrets},
		{"SigningKeys", testSigningKeys},
		{"SigningKeysFailuresWriteNothing", testSigningKeysFailures},
		{"SigningKeysConcurrent", testSigningKeysConcurrent},
		{"Audit", testAudit},
		{"RevokeToken", testRevokeToken},
		{"ListRevocations", testListRevocations},
		{"RevokeClientTokens", testRevokeClientTokens},
		{"RevokeClientTokensAgain", testRevokeClientTokensAgain},
		{"RevokeClientTokensFailures", testRevokeClientTokensFailures},
		{"ListRevocationsWithClients", testListRevocationsWithClients},
		{"RevokeClientTokensDuringRotation", testRevokeClientTokensDuringRotation},
		{"PruneClientRevocations", testPruneClientRevocations},
		{"ObserveRevocations", testObserveRevocations},
		{"Changes", testChanges},
		{"Prune", testPrune},
		{"SchemaVersion", testSchemaVersion},
		{"QuotaCounts", testQuotaCounts},
		{"RecordAudit", testRecordAudit},
		{"Unavailable", testUnavailable},

		{"UserRoundTrip", testUserRoundTrip},
		{"UserConflicts", testUserConflicts},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserFailuresWriteNothing", testUpdateUserFailures},
		{"UpdateUserConcurrent", testUpdateUserConcurrent},
		{"DeleteUser", testDeleteUser},
		{"DeleteUserConcurrent", testDeleteUserConcurrent},
		{"UpdateUserAdmins", testUpdateUserAdmins},
		{"UpdateUserAdminsConcurrent", testUpdateUserAdminsConcurrent},
		{"ListUserPage", testListUserPage},
		{"Sessions", testSessions},
		{"Consents", testConsents},
		{"UpdateConsent", testUpdateConsent},
		{"UpdateConsentConcurrent", testUpdateConsentConcurrent},
		{"DeleteConsentRevokesRefreshTokens", testDeleteConsent},
		{"ListConsentPage", testListConsentPage},
		{"AuthCodes", testAuthCodes},
		{"RedeemAuthCodeConcurrent", testRedeemAuthCodeConcurrent},
		{"RefreshTokens", testRefreshTokens},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RotateRefreshTokenConcurrent", testRotateRefreshTokenConcurrent},
		{"RevokeRefreshFamilyDuringRotation", testRevokeDuringRotation},
		{"DeleteClientCascades", testDeleteClientCascades},
		{"PrunePeople", testPrunePeople},

		{"SetupTokenRoundTrip", testSetupTokenRoundTrip},
		{"RedeemSetupToken", testRedeemSetupToken},
		{"RedeemSetupTokenConcurrent", testRedeemSetupTokenConcurrent},
		{"PruneSetupTokens", testPruneSetupTokens},
		{"PasswordTokenRoundTrip", testPasswordTokenRoundTrip},
		{"RedeemPasswordToken", testRedeemPasswordToken},
		{"RedeemPasswordTokenConcurrent", testRedeemPasswordTokenConcurrent},
		{"PrunePasswordTokens", testPrunePasswordTokens},
		{"IdempotencyKeys", testIdempotencyKeys},
		{"IdempotencyKeysConcurrent", testIdempotencyKeysConcurrent},
		{"ClientAssertionJTIs", testClientAssertionJTIs},
		{"ClientAssertionJTIsConcurrent", testClientAssertionJTIsConcurrent},
		{"TouchClients", testTouchClients},
		{"ListClientPageSelfRegistered", testListClientPageSelfRegistered},
		{"InitialAccessTokens", testInitialAccessTokens},
		{"CreateClientWithInitialAccessToken", testCreateClientWithInitialAccessToken},
		{"Usage", testUsage},
		{"UsageAddressesBounded", testUsageAddressesBounded},
		{"UsageConcurrent", testUsageConcurrent},
		{"UsageManyClients", testUsageManyClients},
		{"CreateClientWithInitialAccessTokenConcurrent", testCreateClientWithInitialAccessTokenConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.test(t, open(t))
		})
	}
}

// t0 has nanoseconds and a zone other than UTC, to check that the store
// truncates to microseconds and returns UTC.
var t0 = time.Date(2025, time.March, 14, 15, 9, 26, 535_897_932, time.FixedZone("UTC+1", 3600))

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func evp(action, target string) *store.AuditEvent {
	e := ev(action, target)
	return &e
}

func ev(action, target string) store.AuditEvent {
	return store.AuditEvent{
		Time:   t0.Add(time.Minute),
		Actor:  "cli:root@test",
		Action: action,
		Target: target,
		Detail: fmt.Sprintf("%s %s by the conformance suite", action, target),
	}
}

// fullClient returns a client with every field set.
func fullClient(id string) store.Client {
	return store.Client{
		ID:           id,
		Name:         "Reporting job — Zürich 東京 O'Brien\"; DROP TABLE clients;--",
		Description:  "line one\nline two",
		GrantTypes:   []string{store.GrantClientCredentials, store.GrantRefreshToken},
		Scopes:       []string{"api:read-only", "search", "account:42"},
		Accounts:     []string{"acct-1", store.AnyAccount},
		RedirectURIs: []string{"https://app.example/cb?x=1&y=2", "http://127.0.0.1:8765/cb"},
		Audience:     "https://api.example",
		TokenTTL:     12*time.Hour + 1500*time.Millisecond + 7,
		Disabled:     true,
		Secrets: []store.Secret{
			{ID: id + "-s1", Digest: digest(id + "one"), Hint: "ghs_Ab3x", CreatedAt: t0,
				ExpiresAt: t0.Add(24 * time.Hour), LastUsedAt: t0.Add(time.Hour + 999)},
			{ID: id + "-s2", Digest: []byte{0, 1, 0, 0xff}, Hint: "ghs_Zz9q", CreatedAt: t0.Add(time.Minute)},
			{ID: id + "-s3", Digest: digest(id + "three"), Hint: "", CreatedAt: t0.Add(2 * time.Minute),
				ExpiresAt: t0.Add(48*time.Hour + 1)},
		},
		CreatedAt: t0,
		UpdatedAt: t0.Add(time.Second + 1),

		Website:                      "https://app.example/about?lang=de&x=ü",
		TokenEndpointAuthMethod:      store.AuthMethodSecretPost,
		RefreshWithClientCredentials: true,
		PKCEOptional:                 true,
		JWKS:                         `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		JWKSURI:                      "https://app.example/jwks.json?v=ü",
		Resources:                    []string{"https://billing.example/api", "urn:example:reports?ü"},
		DPoPRequired:                 true,
		SelfRegistered:               store.RegisteredInitialAccessToken,
		RegistrationTokenDigest:      digest(id + "registration"),
		UsedAt:                       t0.Add(3*time.Hour + 5),
		QuotaPerMinute:               600,
		QuotaPerHour:                 store.QuotaNone,
		ReuseMinRemaining:            50,
	}
}

// minimalClient returns a client with only its ID and one secret.
func minimalClient(id string) store.Client {
	return store.Client{
		ID:      id,
		Name:    "client " + id,
		Secrets: []store.Secret{{ID: id + "-s1", Digest: digest(id), CreatedAt: t0}},
	}
}

// norm returns what the store should return for a value written as v:
// times truncated to microseconds in UTC, empty slices nil.
func norm(c store.Client) store.Client {
	c.GrantTypes = normList(c.GrantTypes)
	c.Scopes = normList(c.Scopes)
	c.Accounts = normList(c.Accounts)
	c.RedirectURIs = normList(c.RedirectURIs)
	c.Resources = normList(c.Resources)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	c.UsedAt = normTime(c.UsedAt)
	c.RegistrationTokenDigest = normBytes(c.RegistrationTokenDigest)
	var secrets []store.Secret
	for _, s := range c.Secrets {
		s.Digest = normBytes(s.Digest)
		s.CreatedAt = normTime(s.CreatedAt)
		s.ExpiresAt = normTime(s.ExpiresAt)
		s.LastUsedAt = normTime(s.LastUsedAt)
		secrets = append(secrets, s)
	}
	c.Secrets = secrets
	return c
}

func normKey(k store.SigningKey) store.SigningKey {
	k.Encrypted = normBytes(k.Encrypted)
	k.CreatedAt = normTime(k.CreatedAt)
	k.ActiveAt = normTime(k.ActiveAt)
	return k
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

func normList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

// checkUTC reports every time in got that is not in UTC or not truncated
// to microseconds. (cmp compares times with Equal, which ignores both.)
func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, tm := range times {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time #%d = %v: got location %q, want UTC", what, i, tm, tm.Location())
		}
		if tm.Nanosecond()%1000 != 0 {
			t.Errorf("%s: time #%d = %v: got %d ns, want whole microseconds", what, i, tm, tm.Nanosecond())
		}
	}
}

func checkClientTimes(t *testing.T, c store.Client) {
	t.Helper()
	times := []time.Time{c.CreatedAt, c.UpdatedAt, c.UsedAt}
	for _, s := range c.Secrets {
		times = append(times, s.CreatedAt, s.ExpiresAt, s.LastUsedAt)
	}
	checkUTC(t, "client "+c.ID, times...)
}

func mustCreate(t *testing.T, s store.Store, c store.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c, ev("client.create", c.ID)); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.Client {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	return c
}

// auditActions returns "action target" for each matching event, newest first.
func auditActions(t *testing.T, s store.Store, f store.AuditFilter) []string {
	t.Helper()
	evs, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

// changes returns "kind:id" for each change-feed entry, oldest first.
func changes(t *testing.T, s store.Store) []string {
	t.Helper()
	cs, err := s.Changes(t.Context(), time.Time{})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind+":"+c.ID)
	}
	return out
}

func testCreateGetRoundTrip(t *testing.T, s store.Store) {
	for _, c := range []store.Client{fullClient("full"), minimalClient("minimal"), {ID: "bare"}} {
		t.Run(c.ID, func(t *testing.T) {
			mustCreate(t, s, c)
			got := mustGet(t, s, c.ID)
			if diff := cmp.Diff(norm(c), got); diff != "" {
				t.Errorf("GetClient(%q) mismatch (-want +got):\n%s", c.ID, diff)
			}
			checkClientTimes(t, got)
		})
	}
	list, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	want := []store.Client{norm(store.Client{ID: "bare"}), norm(fullClient("full")), norm(minimalClient("minimal"))}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ListClients mismatch (-want +got):\n%s", diff)
	}
	for _, c := range list {
		checkClientTimes(t, c)
	}
}

func testEmptyValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ListClients(ctx); err != nil || got != nil {
		t.Errorf("ListClients on an empty store = %#v, %v; want nil, nil", got, err)
	}
	if got, err := s.ListSigningKeys(ctx); err != nil || got != nil {
		t.Errorf("ListSigningKeys on an empty store = %#v, %v; want nil, nil", got, err)
	}
	if got, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || got != nil {
		t.Errorf("ListAudit on an empty store = %#v, %v; want nil, nil", got, err)
	}
	if got, err := s.Changes(ctx, time.Time{}); err != nil || got != nil {
		t.Errorf("Changes on an empty store = %#v, %v; want nil, nil", got, err)
	}
	if got, err := s.LastChange(ctx); err != nil || got != (store.Change{}) {
		t.Errorf("LastChange on an empty store = %#v, %v; want the zero Change", got, err)
	}

	empty := store.Client{
		ID:           "empty",
		GrantTypes:   []string{},
		Scopes:       []string{},
		Accounts:     []string{},
		RedirectURIs: []string{},
		Secrets:      []store.Secret{},
		Resources:    []string{},
	}
	mustCreate(t, s, empty)
	want := store.Client{ID: "empty"}
	if diff := cmp.Diff(want, mustGet(t, s, "empty")); diff != "" {
		t.Errorf("GetClient after creating with empty slices (-want +got):\n%s", diff)
	}

	full := fullClient("full")
	mustCreate(t, s, full)
	got, err := s.UpdateClient(ctx, "full", func(c *store.Client) error {
		c.GrantTypes = []string{}
		c.Scopes = nil
		c.Accounts = []string{}
		c.RedirectURIs = nil
		c.Secrets = []store.Secret{}
		c.Resources = []string{}
		return nil
	}, evp("client.update", "full"))
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	want = norm(full)
	want.GrantTypes, want.Scopes, want.Accounts, want.RedirectURIs, want.Secrets, want.Resources = nil, nil, nil, nil, nil, nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateClient result after emptying slices (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustGet(t, s, "full")); diff != "" {
		t.Errorf("GetClient after emptying slices (-want +got):\n%s", diff)
	}
}

func testSecretsOrder(t *testing.T, s store.Store) {
	c := minimalClient("c")
	c.Secrets = []store.Secret{
		{ID: "late", Digest: digest("late"), CreatedAt: t0.Add(2 * time.Hour)},
		{ID: "early", Digest: digest("early"), CreatedAt: t0},
		{ID: "middle", Digest: digest("middle"), CreatedAt: t0.Add(time.Hour)},
	}
	mustCreate(t, s, c)
	var got []string
	for _, sec := range mustGet(t, s, "c").Secrets {
		got = append(got, sec.ID)
	}
	if want := []string{"early", "middle", "late"}; !slices.Equal(got, want) {
		t.Errorf("secret order after CreateClient: got %q, want %q", got, want)
	}

	_, err := s.UpdateClient(t.Context(), "c", func(c *store.Client) error {
		c.Secrets = append(c.Secrets, store.Secret{ID: "earliest", Digest: digest("x"), CreatedAt: t0.Add(-time.Hour)})
		return nil
	}, evp("client.update", "c"))
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	got = nil
	for _, sec := range mustGet(t, s, "c").Secrets {
		got = append(got, sec.ID)
	}
	if want := []string{"earliest", "early", "middle", "late"}; !slices.Equal(got, want) {
		t.Errorf("secret order after UpdateClient: got %q, want %q", got, want)
	}
}

func testCreateConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullClient("a")
	mustCreate(t, s, orig)

	tests := []struct {
		name string
		c    store.Client
	}{
		{"same client ID", minimalClient("a")},
		{"secret ID of another client", store.Client{ID: "b", Name: "b",
			Secrets: []store.Secret{{ID: "b-s1", Digest: digest("b")}, {ID: "a-s2", Digest: digest("a")}}}},
		{"same secret ID twice", store.Client{ID: "c", Name: "c",
			Secrets: []store.Secret{{ID: "c-s1", Digest: digest("1")}, {ID: "c-s1", Digest: digest("2")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateClient(ctx, tt.c, ev("client.create", tt.c.ID))
			if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateClient: got error %v, want ErrConflict", err)
			}
			if tt.c.ID != "a" {
				if _, err := s.GetClient(ctx, tt.c.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetClient(%q) after failed create: got error %v, want ErrNotFound", tt.c.ID, err)
				}
			}
		})
	}
	if diff := cmp.Diff(norm(orig), mustGet(t, s, "a")); diff != "" {
		t.Errorf("existing client changed by conflicting creates (-want +got):\n%s", diff)
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"client.create a"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:a"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
	// The secret IDs of the failed creates are still free.
	mustCreate(t, s, store.Client{ID: "d", Secrets: []store.Secret{{ID: "b-s1"}, {ID: "c-s1"}}})
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("present"))
	tests := []struct {
		name string
		call func() error
	}{
		{"GetClient", func() error {
			_, err := s.GetClient(ctx, "missing")
			return err
		}},
		{"UpdateClient", func() error {
			_, err := s.UpdateClient(ctx, "missing", func(c *store.Client) error {
				t.Errorf("UpdateClient called fn for a missing client: %+v", c)
				return nil
			}, evp("client.update", "missing"))
			return err
		}},
		{"DeleteClient", func() error {
			return s.DeleteClient(ctx, "missing", nil, ev("client.delete", "missing"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(%q): got error %v, want ErrNotFound", tt.name, "missing", err)
			}
		})
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"client.create present"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:present"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testListClientsOrder(t *testing.T, s store.Store) {
	ids := []string{"m", "b", "z", "a", "B", "a-1"}
	for _, id := range ids {
		mustCreate(t, s, fullClient(id))
	}
	list, err := s.ListClients(t.Context())
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	var want []store.Client
	for _, id := range slices.Sorted(slices.Values(ids)) {
		want = append(want, norm(fullClient(id)))
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("ListClients mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateClientReplaces(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := fullClient("a")
	mustCreate(t, s, orig)
	mustCreate(t, s, fullClient("other"))

	var want store.Client
	got, err := s.UpdateClient(ctx, "a", func(c *store.Client) error {
		if diff := cmp.Diff(norm(orig), *c); diff != "" {
			t.Errorf("fn got a client different from the stored one (-want +got):\n%s", diff)
		}
		c.Name = "renamed"
		c.Description = ""
		c.GrantTypes = []string{store.GrantAuthorizationCode}
		c.Scopes = []string{"profile"}
		c.Accounts = nil
		c.RedirectURIs = []string{"https://new.example/cb"}
		c.Audience = "https://other.example"
		c.TokenTTL = 0
		c.Disabled = false
		c.Website = ""
		c.TokenEndpointAuthMethod = store.AuthMethodNone
		c.RefreshWithClientCredentials = false
		c.PKCEOptional = false
		c.JWKS = ""
		c.JWKSURI = "https://new.example/keys"
		c.Resources = []string{"https://new.example/api"}
		c.DPoPRequired = false
		c.QuotaPerMinute = store.QuotaNone
		c.QuotaPerHour = 7
		c.ReuseMinRemaining = store.ReuseOff
		// s1: expiry removed; s2: expiry set, last use changed; s3: removed; s4: added.
		c.Secrets[0].ExpiresAt = time.Time{}
		c.Secrets[1].ExpiresAt = t0.Add(time.Hour + 1)
		c.Secrets[1].LastUsedAt = t0.Add(3 * time.Minute)
		c.Secrets[1].Hint = "ghs_new"
		c.Secrets = append(c.Secrets[:2], store.Secret{
			ID: "a-s4", Digest: digest("four"), Hint: "ghs_four", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(72 * time.Hour),
		})
		want = norm(*c)
		return nil
	}, evp("client.update", "a"))
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateClient result (-want +got):\n%s", diff)
	}
	checkClientTimes(t, got)
	if diff := cmp.Diff(want, mustGet(t, s, "a")); diff != "" {
		t.Errorf("GetClient after update (-want +got):\n%s", diff)
	}
	if !got.UpdatedAt.Equal(normTime(orig.UpdatedAt)) || !got.CreatedAt.Equal(normTime(orig.CreatedAt)) {
		t.Errorf("UpdateClient changed timestamps by itself: got CreatedAt %v, UpdatedAt %v; want %v, %v",
			got.CreatedAt, got.UpdatedAt, normTime(orig.CreatedAt), normTime(orig.UpdatedAt))
	}
	if diff := cmp.Diff(norm(fullClient("other")), mustGet(t, s, "other")); diff != "" {
		t.Errorf("another client changed (-want +got):\n%s", diff)
	}

	// The removed secret's ID is free again.
	mustCreate(t, s, store.Client{ID: "b", Secrets: []store.Secret{{ID: "a-s3", Digest: digest("b")}}})

	// The caller sets UpdatedAt.
	later := t0.Add(time.Hour + 5)
	got, err = s.UpdateClient(ctx, "a", func(c *store.Client) error {
		c.UpdatedAt = later
		return nil
	}, evp("client.update", "a"))
	if err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	want.UpdatedAt = normTime(later)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpdateClient setting UpdatedAt (-want +got):\n%s", diff)
	}

	if got, want := auditActions(t, s, store.AuditFilter{Target: "a"}), []string{"client.update a", "client.update a", "client.create a"}; !slices.Equal(got, want) {
		t.Errorf("audit events for a: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:a", "client:other", "client:a", "client:b", "client:a"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testUpdateClientFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, fullClient("a"))
	mustCreate(t, s, fullClient("b"))
	errBoom := errors.New("boom")

	tests := []struct {
		name    string
		fn      func(c *store.Client) error
		wantErr error // nil: any error
	}{
		{"fn fails", func(c *store.Client) error {
			c.Name = "changed"
			c.Secrets = append(c.Secrets[:1], store.Secret{ID: "new", Digest: digest("new")})
			return fmt.Errorf("checking: %w", errBoom)
		}, errBoom},
		{"fn changes the ID", func(c *store.Client) error {
			c.ID = "renamed"
			c.Name = "changed"
			return nil
		}, nil},
		{"secret ID of another client", func(c *store.Client) error {
			c.Name = "changed"
			c.Secrets = append(c.Secrets, store.Secret{ID: "b-s1", Digest: digest("stolen")})
			return nil
		}, store.ErrConflict},
		{"same secret ID twice", func(c *store.Client) error {
			c.Name = "changed"
			c.Secrets = append(c.Secrets, store.Secret{ID: "a-s1", Digest: digest("twice")})
			return nil
		}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UpdateClient(ctx, "a", tt.fn, evp("client.update", "a"))
			switch {
			case err == nil:
				t.Fatalf("UpdateClient succeeded with %+v, want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("UpdateClient: got error %v, want %v", err, tt.wantErr)
			}
			for _, id := range []string{"a", "b"} {
				if diff := cmp.Diff(norm(fullClient(id)), mustGet(t, s, id)); diff != "" {
					t.Errorf("client %q changed by failed update (-want +got):\n%s", id, diff)
				}
			}
			if _, err := s.GetClient(ctx, "renamed"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetClient(%q): got error %v, want ErrNotFound", "renamed", err)
			}
		})
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"client.create b", "client.create a"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:a", "client:b"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testUpdateClientConcurrent(t *testing.T, s store.Store) {
	const n = 20
	c := minimalClient("a")
	mustCreate(t, s, c)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateClient(t.Context(), "a", func(c *store.Client) error {
				c.Secrets = append(c.Secrets, store.Secret{
					ID: fmt.Sprintf("s%02d", i), Digest: digest(fmt.Sprint(i)), CreatedAt: t0.Add(time.Duration(i+1) * time.Second),
				})
				return nil
			}, evp("client.update", "a"))
			if err != nil {
				t.Errorf("UpdateClient #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var got []string
	for _, sec := range mustGet(t, s, "a").Secrets {
		got = append(got, sec.ID)
	}
	want := []string{"a-s1"}
	for i := range n {
		want = append(want, fmt.Sprintf("s%02d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("secrets after %d concurrent appends: got %q, want %q", n, got, want)
	}
	if got := len(auditActions(t, s, store.AuditFilter{Action: "client.update"})); got != n {
		t.Errorf("got %d client.update audit events, want %d", got, n)
	}
	if got := len(changes(t, s)); got != n+1 {
		t.Errorf("got %d change-feed entries, want %d", got, n+1)
	}
}

func testDeleteClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, fullClient("a"))
	mustCreate(t, s, fullClient("b"))
	refuse := errors.New("not yours")
	var checked store.Client
	err := s.DeleteClient(ctx, "a", func(c store.Client) error { checked = c; return refuse }, ev("client.delete", "a"))
	if !errors.Is(err, refuse) {
		t.Errorf("DeleteClient with a check that refuses: got error %v, want the check's", err)
	}
	if diff := cmp.Diff(norm(fullClient("a")), checked); diff != "" {
		t.Errorf("the check's client (-want +got):\n%s", diff)
	}
	mustGet(t, s, "a")
	if err := s.DeleteClient(ctx, "a", func(store.Client) error { return nil }, ev("client.delete", "a")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.GetClient(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClient after delete: got error %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx, "a", nil, ev("client.delete", "a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient: got error %v, want ErrNotFound", err)
	}
	list, err := s.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients: %v", err)
	}
	if diff := cmp.Diff([]store.Client{norm(fullClient("b"))}, list); diff != "" {
		t.Errorf("ListClients after delete (-want +got):\n%s", diff)
	}
	// The secrets went with the client: touching them is a no-op and
	// their IDs can be used again.
	if err := s.TouchSecrets(ctx, map[string]time.Time{"a-s1": t0.Add(5 * time.Hour)}); err != nil {
		t.Errorf("TouchSecrets on a deleted secret: %v", err)
	}
	reuse := fullClient("a") // same secret IDs as before
	reuse.Name = "again"
	mustCreate(t, s, reuse)
	if diff := cmp.Diff(norm(reuse), mustGet(t, s, "a")); diff != "" {
		t.Errorf("recreated client (-want +got):\n%s", diff)
	}
	if got, want := auditActions(t, s, store.AuditFilter{Target: "a"}), []string{"client.create a", "client.delete a", "client.create a"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"client:a", "client:b", "client:a", "client:a"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

// manySecretUses is a map of 700 secret IDs used at 'at': the IDs given
// and unknown ones around them; a-s1's time is earlier than its stored one.
func manySecretUses(at time.Time, ids ...string) map[string]time.Time {
	used := make(map[string]time.Time)
	for i := range 700 {
		used[fmt.Sprintf("%s-%03d", ids[i%len(ids)], i)] = at
	}
	for _, id := range ids {
		used[id] = at
	}
	used["a-s1"] = t0
	return used
}

func testTouchSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := fullClient("a") // s1 last used t0+1h, s2 and s3 never
	mustCreate(t, s, c)
	mustCreate(t, s, fullClient("b"))
	want := norm(c)

	steps := []struct {
		name string
		used map[string]time.Time
		want map[int]time.Time // secret index → LastUsedAt
	}{
		{"first use and moving forward", map[string]time.Time{
			"a-s1": t0.Add(2*time.Hour + 123), "a-s2": t0.Add(30 * time.Minute), "unknown": t0,
		}, map[int]time.Time{0: t0.Add(2*time.Hour + 123), 1: t0.Add(30 * time.Minute)}},
		{"earlier times are ignored", map[string]time.Time{
			"a-s1": t0.Add(time.Hour), "a-s2": t0,
		}, nil},
		{"the same time again", map[string]time.Time{"a-s2": t0.Add(30 * time.Minute)}, nil},
		{"zero time is ignored", map[string]time.Time{"a-s1": {}}, nil},
		{"only unknown IDs", map[string]time.Time{"nope": t0.Add(100 * time.Hour)}, nil},
		{"empty map", map[string]time.Time{}, nil},
		{"nil map", nil, nil},
		{"later again", map[string]time.Time{"a-s2": t0.Add(31 * time.Minute), "a-s3": t0.Add(time.Hour)},
			map[int]time.Time{1: t0.Add(31 * time.Minute), 2: t0.Add(time.Hour)}},
		// More secrets than one statement carries (the writes are batched):
		// a's, among unknown IDs sorted before, between and after them.
		{"among many", manySecretUses(t0.Add(2*time.Hour), "a-s1", "a-s3"),
			map[int]time.Time{2: t0.Add(2 * time.Hour)}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := s.TouchSecrets(ctx, step.used); err != nil {
				t.Fatalf("TouchSecrets: %v", err)
			}
			for i, tm := range step.want {
				want.Secrets[i].LastUsedAt = normTime(tm)
			}
			got := mustGet(t, s, "a")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("client after TouchSecrets (-want +got):\n%s", diff)
			}
			checkClientTimes(t, got)
		})
	}
	if diff := cmp.Diff(norm(fullClient("b")), mustGet(t, s, "b")); diff != "" {
		t.Errorf("another client changed (-want +got):\n%s", diff)
	}
	if got, want := changes(t, s), []string{"client:a", "client:b"}; !slices.Equal(got, want) {
		t.Errorf("TouchSecrets wrote to the change feed: got %q, want %q", got, want)
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 2 {
		t.Errorf("got %d audit events, want 2", got)
	}
}

func key(id string, activeAt time.Time) store.SigningKey {
	return store.SigningKey{
		ID:        id,
		Algorithm: "ES256",
		Encrypted: append([]byte{0, 0xff}, digest(id)...),
		CreatedAt: activeAt.Add(-time.Hour - 1),
		ActiveAt:  activeAt,
	}
}

func keyIDs(keys []store.SigningKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	listKeys := func() []store.SigningKey {
		t.Helper()
		keys, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		for _, k := range keys {
			checkUTC(t, "key "+k.ID, k.CreatedAt, k.ActiveAt)
		}
		return keys
	}

	first := []store.SigningKey{
		key("k-b", t0.Add(time.Hour)),
		key("k-a", t0.Add(time.Hour)),
		key("k-c", t0),
		{ID: "k-z", Algorithm: "EdDSA", Encrypted: []byte("sealed")}, // zero times: earliest
		key("k-d", t0.Add(2*time.Hour+999)),
	}
	err := s.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
		if keys != nil {
			t.Errorf("fn got keys %v on an empty store, want nil", keyIDs(keys))
		}
		return first, nil, nil
	}, ev("key.rotate", "k-d"))
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	var want []store.SigningKey
	for _, id := range []int{3, 2, 1, 0, 4} { // k-z, k-c, k-a, k-b, k-d
		want = append(want, normKey(first[id]))
	}
	if diff := cmp.Diff(want, listKeys()); diff != "" {
		t.Errorf("ListSigningKeys (-want +got):\n%s", diff)
	}

	// fn sees the current keys; add and remove in one call; removing an
	// unknown ID is fine.
	added := key("k-e", t0.Add(3*time.Hour))
	err = s.UpdateSigningKeys(ctx, func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Errorf("fn got keys (-want +got):\n%s", diff)
		}
		return []store.SigningKey{added}, []string{"k-z", "k-b", "never-existed"}, nil
	}, ev("key.rotate", "k-e"))
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	want = []store.SigningKey{normKey(first[2]), normKey(first[1]), normKey(first[4]), normKey(added)}
	if diff := cmp.Diff(want, listKeys()); diff != "" {
		t.Errorf("ListSigningKeys after add and remove (-want +got):\n%s", diff)
	}

	// No audit event when ev.Action is empty.
	err = s.UpdateSigningKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, []string, error) {
		return nil, []string{"k-c"}, nil
	}, store.AuditEvent{Actor: "system", Target: "k-c"})
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	if got, want := keyIDs(listKeys()), []string{"k-a", "k-d", "k-e"}; !slices.Equal(got, want) {
		t.Errorf("keys after removing k-c: got %q, want %q", got, want)
	}

	evs, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	wantEvs := []store.AuditEvent{ev("key.rotate", "k-e"), ev("key.rotate", "k-d")}
	for i := range wantEvs {
		wantEvs[i].Time = normTime(wantEvs[i].Time)
	}
	if diff := cmp.Diff(wantEvs, evs, cmpopts.IgnoreFields(store.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	wantChanges := []string{"key:k-b", "key:k-a", "key:k-c", "key:k-z", "key:k-d", "key:k-e", "key:k-z", "key:k-b", "key:k-c"}
	if got := changes(t, s); len(got) != len(wantChanges) ||
		!sameElements(got[:5], wantChanges[:5]) || !sameElements(got[5:8], wantChanges[5:8]) || !slices.Equal(got[8:], wantChanges[8:]) {
		t.Errorf("change feed: got %q, want %q (in any order within one call)", got, wantChanges)
	}
}

// sameElements reports whether a and b hold the same strings, in any order.
func sameElements(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func testSigningKeysFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.UpdateSigningKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, []string, error) {
		return []store.SigningKey{key("k1", t0)}, nil, nil
	}, ev("key.rotate", "k1"))
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func([]store.SigningKey) ([]store.SigningKey, []string, error)
		wantErr error
	}{
		{"fn fails", func([]store.SigningKey) ([]store.SigningKey, []string, error) {
			return []store.SigningKey{key("k2", t0)}, []string{"k1"}, fmt.Errorf("generating: %w", errBoom)
		}, errBoom},
		{"existing key ID", func([]store.SigningKey) ([]store.SigningKey, []string, error) {
			return []store.SigningKey{key("k2", t0), key("k1", t0.Add(time.Hour))}, nil, nil
		}, store.ErrConflict},
		{"same key ID twice", func([]store.SigningKey) ([]store.SigningKey, []string, error) {
			return []store.SigningKey{key("k3", t0), key("k3", t0)}, []string{"k1"}, nil
		}, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.UpdateSigningKeys(ctx, tt.fn, ev("key.rotate", "k2"))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("UpdateSigningKeys: got error %v, want %v", err, tt.wantErr)
			}
			keys, err := s.ListSigningKeys(ctx)
			if err != nil {
				t.Fatalf("ListSigningKeys: %v", err)
			}
			if diff := cmp.Diff([]store.SigningKey{normKey(key("k1", t0))}, keys); diff != "" {
				t.Errorf("keys after failed update (-want +got):\n%s", diff)
			}
		})
	}
	if got, want := auditActions(t, s, store.AuditFilter{}), []string{"key.rotate k1"}; !slices.Equal(got, want) {
		t.Errorf("audit events: got %q, want %q", got, want)
	}
	if got, want := changes(t, s), []string{"key:k1"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q", got, want)
	}
}

func testSigningKeysConcurrent(t *testing.T, s store.Store) {
	const workers, limit = 10, 3
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			err := s.UpdateSigningKeys(t.Context(), func(keys []store.SigningKey) ([]store.SigningKey, []string, error) {
				if len(keys) >= limit {
					return nil, nil, nil
				}
				return []store.SigningKey{key(fmt.Sprintf("k%02d", i), t0.Add(time.Duration(i)*time.Minute))}, nil, nil
			}, store.AuditEvent{})
			if err != nil {
				t.Errorf("UpdateSigningKeys #%d: %v", i, err)
			}
		})
	}
	wg.Wait()
	keys, err := s.ListSigningKeys(t.Context())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	if len(keys) != limit {
		t.Errorf("%d concurrent callers each adding a key while fewer than %d exist: got keys %q, want exactly %d",
			workers, limit, keyIDs(keys), limit)
	}
}

// testListClientPage pages through clients with and without filters.
func testListClientPage(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, c := range []store.Client{
		{ID: "B-upper", Name: "Upper", Accounts: []string{"acme"}},
		{ID: "a1", Name: "Acme Billing", Accounts: []string{"acme"}},
		{ID: "a2", Name: "Acme 100% sync_job", Accounts: []string{"acme", "globex"}},
		{ID: "g1", Name: "Globex", Accounts: []string{"globex"}},
		{ID: "any", Name: "Every account", Accounts: []string{store.AnyAccount}},
		{ID: "none", Name: "No account"},
	} {
		c.Secrets = []store.Secret{{ID: c.ID + "-s1", Digest: digest(c.ID), CreatedAt: t0}, {ID: c.ID + "-s2", Digest: digest(c.ID), CreatedAt: t0.Add(time.Second)}}
		mustCreate(t, s, c)
	}
	ids := func(q store.ClientQuery) []string {
		t.Helper()
		page, err := s.ListClientPage(ctx, q)
		if err != nil {
			t.Fatalf("ListClientPage(%+v): %v", q, err)
		}
		var out []string
		for _, c := range page {
			if len(c.Secrets) != 2 || c.Secrets[0].ID != c.ID+"-s1" {
				t.Errorf("ListClientPage(%+v): client %q has secrets %+v, want its two in order", q, c.ID, c.Secrets)
			}
			out = append(out, c.ID)
		}
		return out
	}
	for _, tt := range []struct {
		q    store.ClientQuery
		want []string
	}{
		{store.ClientQuery{Limit: 100}, []string{"B-upper", "a1", "a2", "any", "g1", "none"}}, // byte order
		{store.ClientQuery{Limit: 2}, []string{"B-upper", "a1"}},
		{store.ClientQuery{Limit: 2, After: "a1"}, []string{"a2", "any"}},
		{store.ClientQuery{Limit: 2, After: "g1"}, []string{"none"}},
		{store.ClientQuery{Limit: 2, After: "none"}, nil},
		{store.ClientQuery{Limit: 100, Search: "acme"}, []string{"a1", "a2"}},
		{store.ClientQuery{Limit: 100, Search: "ACME b"}, []string{"a1"}},
		{store.ClientQuery{Limit: 100, Search: "b-UP"}, []string{"B-upper"}},
		{store.ClientQuery{Limit: 100, Search: "100%"}, []string{"a2"}},
		{store.ClientQuery{Limit: 100, Search: "%"}, []string{"a2"}},
		{store.ClientQuery{Limit: 100, Search: "e_b"}, nil}, // "_" is no wildcard: not "Acme Billing"
		{store.ClientQuery{Limit: 100, Search: "_"}, []string{"a2"}},
		{store.ClientQuery{Limit: 100, Account: "acme"}, []string{"B-upper", "a1", "a2"}},
		{store.ClientQuery{Limit: 100, Account: "globex"}, []string{"a2", "g1"}},
		{store.ClientQuery{Limit: 100, Account: "ac"}, nil},
		{store.ClientQuery{Limit: 100, Account: store.AnyAccount}, []string{"any"}},
		{store.ClientQuery{Limit: 100, Owner: "acme"}, []string{"B-upper", "a1"}},
		{store.ClientQuery{Limit: 1, Owner: "acme", After: "B-upper"}, []string{"a1"}},
		{store.ClientQuery{Limit: 100, Owner: "globex", Search: "glo"}, []string{"g1"}},
		{store.ClientQuery{Limit: 100, Owner: "nobody"}, nil},
	} {
		if got := ids(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("ListClientPage(%+v): got %q, want %q", tt.q, got, tt.want)
		}
	}
	if _, err := s.ListClientPage(ctx, store.ClientQuery{}); err == nil {
		t.Error("ListClientPage without a limit: got no error")
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("a"))
	mustCreate(t, s, minimalClient("b"))
	if _, err := s.UpdateClient(ctx, "a", func(c *store.Client) error { c.Name = "A"; return nil }, evp("client.rotate_secret", "a")); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if err := s.DeleteClient(ctx, "b", nil, ev("client.delete", "b")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	err := s.UpdateSigningKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, []string, error) {
		return []store.SigningKey{key("k1", t0)}, nil, nil
	}, ev("key.rotate", "k1"))
	if err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	// Not audited: these are not administrative changes.
	if err := s.TouchSecrets(ctx, map[string]time.Time{"a-s1": t0}); err != nil {
		t.Fatalf("TouchSecrets: %v", err)
	}
	if err := s.RevokeToken(ctx, "jti", t0.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}

	all, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	var want []store.AuditEvent
	for _, e := range []store.AuditEvent{
		ev("key.rotate", "k1"), ev("client.delete", "b"), ev("client.rotate_secret", "a"),
		ev("client.create", "b"), ev("client.create", "a"),
	} {
		e.Time = normTime(e.Time)
		want = append(want, e)
	}
	if diff := cmp.Diff(want, all, cmpopts.IgnoreFields(store.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("ListAudit (-want +got):\n%s", diff)
	}
	for i, e := range all {
		checkUTC(t, "audit event", e.Time)
		if i > 0 && e.ID >= all[i-1].ID {
			t.Errorf("audit event IDs: got %d after %d, want decreasing (newest first)", e.ID, all[i-1].ID)
		}
	}

	tests := []struct {
		filter store.AuditFilter
		want   []string
	}{
		{store.AuditFilter{Target: "a"}, []string{"client.rotate_secret a", "client.create a"}},
		{store.AuditFilter{Target: "b"}, []string{"client.delete b", "client.create b"}},
		{store.AuditFilter{Action: "client.create"}, []string{"client.create b", "client.create a"}},
		{store.AuditFilter{Target: "a", Action: "client.create"}, []string{"client.create a"}},
		{store.AuditFilter{Target: "b", Action: "client.rotate_secret"}, nil},
		{store.AuditFilter{Target: "nobody"}, nil},
		{store.AuditFilter{Limit: 2}, []string{"key.rotate k1", "client.delete b"}},
		{store.AuditFilter{Limit: 1, Target: "a"}, []string{"client.rotate_secret a"}},
		{store.AuditFilter{Limit: 10, Action: "client.create"}, []string{"client.create b", "client.create a"}},
		{store.AuditFilter{Actor: "cli:root@test", Limit: 1}, []string{"key.rotate k1"}},
		{store.AuditFilter{Actor: "someone else"}, nil},
		{store.AuditFilter{Since: t0.Add(time.Minute)}, []string{"key.rotate k1", "client.delete b", "client.rotate_secret a", "client.create b", "client.create a"}},
		{store.AuditFilter{Since: t0.Add(time.Minute + time.Microsecond)}, nil},
		{store.AuditFilter{Before: all[1].ID, Limit: 2}, []string{"client.rotate_secret a", "client.create b"}},
		{store.AuditFilter{Before: all[len(all)-1].ID}, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.filter), func(t *testing.T) {
			if got := auditActions(t, s, tt.filter); !slices.Equal(got, tt.want) {
				t.Errorf("ListAudit(%+v): got %q, want %q", tt.filter, got, tt.want)
			}
		})
	}
}

func testRevokeToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	isRevoked := func(jti string) bool {
		t.Helper()
		ok, err := s.IsTokenRevoked(ctx, jti, "c1", t0)
		if err != nil {
			t.Fatalf("IsTokenRevoked(%q): %v", jti, err)
		}
		return ok
	}
	if isRevoked("j1") {
		t.Errorf("IsTokenRevoked(%q) before revoking: got true, want false", "j1")
	}
	exp := time.Now().Add(time.Hour)
	for i := range 3 {
		if err := s.RevokeToken(ctx, "j1", exp); err != nil {
			t.Fatalf("RevokeToken #%d: %v", i+1, err)
		}
	}
	// An earlier expiry does not fail.
	if err := s.RevokeToken(ctx, "j1", exp.Add(-time.Minute)); err != nil {
		t.Fatalf("RevokeToken with an earlier expiry: %v", err)
	}
	if !isRevoked("j1") {
		t.Errorf("IsTokenRevoked(%q) after revoking: got false, want true", "j1")
	}
	if isRevoked("j2") {
		t.Errorf("IsTokenRevoked(%q): got true, want false", "j2")
	}
	if got := changes(t, s); got != nil {
		t.Errorf("RevokeToken wrote to the change feed: %q", got)
	}
}

func testListRevocations(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	list := func(since, now time.Time, limit int) []store.Revocation {
		t.Helper()
		got, err := s.ListRevocations(ctx, since, now, limit)
		if err != nil {
			t.Fatalf("ListRevocations(%v, %v, %d): %v", since, now, limit, err)
		}
		return got
	}
	jtis := func(rs []store.Revocation) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.JTI)
		}
		return out
	}
	if got := list(time.Time{}, now, 0); got != nil {
		t.Fatalf("ListRevocations on an empty store: got %v, want nil", got)
	}

	// Revoked in this order, which is not the JTIs' order. The pauses let
	// each get a later stamp than the one before.
	exp := map[string]time.Time{
		"m":       now.Add(30 * time.Minute),
		"c":       now.Add(time.Hour),
		"a":       now.Add(2 * time.Hour),
		"expired": now.Add(-time.Minute),
		"Z":       now.Add(3 * time.Hour),
		"b":       now.Add(time.Minute),
	}
	order := []string{"m", "c", "a", "expired", "Z", "b"}
	start := time.Now()
	for _, jti := range order {
		if err := s.RevokeToken(ctx, jti, exp[jti]); err != nil {
			t.Fatalf("RevokeToken(%q): %v", jti, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	end := time.Now()

	all := list(time.Time{}, now, 0)
	if got, want := jtis(all), []string{"m", "c", "a", "Z", "b"}; !slices.Equal(got, want) {
		t.Fatalf("ListRevocations(zero, now, 0): got %q, want %q (revocation order, without the expired one)", got, want)
	}
	// RevokedAt comes from the store's clock, which may be another machine's.
	const skew = time.Minute
	for i, r := range all {
		checkUTC(t, "revocation "+r.JTI, r.ExpiresAt, r.RevokedAt)
		if want := normTime(exp[r.JTI]); !r.ExpiresAt.Equal(want) {
			t.Errorf("revocation %q: ExpiresAt = %v, want %v", r.JTI, r.ExpiresAt, want)
		}
		if r.RevokedAt.Before(start.Add(-skew)) || r.RevokedAt.After(end.Add(skew)) {
			t.Errorf("revocation %q: RevokedAt = %v, want between %v and %v", r.JTI, r.RevokedAt, start, end)
		}
		if i > 0 {
			prev := all[i-1]
			if r.RevokedAt.Before(prev.RevokedAt) || r.RevokedAt.Equal(prev.RevokedAt) && r.JTI < prev.JTI {
				t.Errorf("revocation #%d (%q, %v) sorts before #%d (%q, %v), want order by RevokedAt, then JTI",
					i, r.JTI, r.RevokedAt, i-1, prev.JTI, prev.RevokedAt)
			}
		}
	}

	// since: RevokedAt >= since.
	for i := range all {
		since := all[i].RevokedAt
		var want []store.Revocation
		for _, r := range all {
			if !r.RevokedAt.Before(since) {
				want = append(want, r)
			}
		}
		if diff := cmp.Diff(want, list(since, now, 0)); diff != "" {
			t.Errorf("ListRevocations(RevokedAt of #%d) (-want +got):\n%s", i, diff)
		}
	}
	if got := list(all[len(all)-1].RevokedAt.Add(time.Microsecond), now, 0); got != nil {
		t.Errorf("ListRevocations(just after the last one): got %v, want nil", got)
	}

	// now: only tokens that expire after it.
	for _, tt := range []struct {
		now  time.Time
		want []string
	}{
		{now.Add(-2 * time.Minute), []string{"m", "c", "a", "expired", "Z", "b"}},
		{now.Add(2 * time.Minute), []string{"m", "c", "a", "Z"}},
		{now.Add(90 * time.Minute), []string{"a", "Z"}},
		{normTime(exp["a"]), []string{"Z"}}, // expiring exactly at now is expired
		{now.Add(4 * time.Hour), nil},
	} {
		if got := jtis(list(time.Time{}, tt.now, 0)); !slices.Equal(got, tt.want) {
			t.Errorf("ListRevocations(zero, now%+v, 0): got %q, want %q", tt.now.Sub(now), got, tt.want)
		}
	}

	// limit: the first ones in order; <= 0 is no limit.
	for _, tt := range []struct {
		limit int
		want  []store.Revocation
	}{
		{1, all[:1]},
		{2, all[:2]},
		{len(all), all},
		{len(all) + 1, all},
		{0, all},
		{-1, all},
	} {
		if diff := cmp.Diff(tt.want, list(time.Time{}, now, tt.limit)); diff != "" {
			t.Errorf("ListRevocations(zero, now, %d) (-want +got):\n%s", tt.limit, diff)
		}
	}
	if diff := cmp.Diff(all[2:4], list(all[2].RevokedAt, now, 2)); diff != "" {
		t.Errorf("ListRevocations(RevokedAt of #2, now, 2) (-want +got):\n%s", diff)
	}

	// Revoking again keeps RevokedAt (and so the order) and the later expiry.
	time.Sleep(2 * time.Millisecond)
	later := exp["c"].Add(time.Hour)
	if err := s.RevokeToken(ctx, "c", later); err != nil {
		t.Fatalf("RevokeToken(c) again: %v", err)
	}
	if err := s.RevokeToken(ctx, "a", now); err != nil {
		t.Fatalf("RevokeToken(a) again with an earlier expiry: %v", err)
	}
	want := slices.Clone(all)
	want[1].ExpiresAt = normTime(later)
	if diff := cmp.Diff(want, list(time.Time{}, now, 0)); diff != "" {
		t.Errorf("ListRevocations after revoking c and a again (-want +got):\n%s", diff)
	}
	if got := changes(t, s); got != nil {
		t.Errorf("RevokeToken wrote to the change feed: %q", got)
	}

	// Pruned revocations are gone from the list too.
	if err := s.Prune(ctx, now.Add(90*time.Minute)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if got, want := jtis(list(time.Time{}, now, 0)), []string{"c", "a", "Z"}; !slices.Equal(got, want) {
		t.Errorf("ListRevocations(zero, now, 0) after Prune(now+90m): got %q, want %q", got, want)
	}
}

func testChanges(t *testing.T, s store.Store) {
	ctx := t.Context()
	start := time.Now()
	mustCreate(t, s, minimalClient("a"))
	if _, err := s.UpdateClient(ctx, "a", func(c *store.Client) error { c.Name = "A"; return nil }, evp("client.update", "a")); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	mustCreate(t, s, minimalClient("b"))
	if err := s.DeleteClient(ctx, "a", nil, ev("client.delete", "a")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if err := s.UpdateSigningKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, []string, error) {
		return []store.SigningKey{key("k1", t0)}, nil, nil
	}, store.AuditEvent{}); err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	if err := s.UpdateSigningKeys(ctx, func([]store.SigningKey) ([]store.SigningKey, []string, error) {
		return nil, []string{"k1"}, nil
	}, store.AuditEvent{}); err != nil {
		t.Fatalf("UpdateSigningKeys: %v", err)
	}
	// Writes that are not changes to clients or keys.
	if err := s.TouchSecrets(ctx, map[string]time.Time{"b-s1": t0}); err != nil {
		t.Fatalf("TouchSecrets: %v", err)
	}
	if err := s.RevokeToken(ctx, "jti", t0); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	end := time.Now()

	all, err := s.Changes(ctx, time.Time{})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	var got []string
	for _, c := range all {
		got = append(got, c.Kind+":"+c.ID)
	}
	want := []string{"client:a", "client:a", "client:b", "client:a", "key:k1", "key:k1"}
	if !slices.Equal(got, want) {
		t.Fatalf("Changes: got %q, want %q", got, want)
	}
	// At comes from the store's clock, which may be another machine's.
	const skew = time.Minute
	for i, c := range all {
		checkUTC(t, "change "+c.ID, c.At)
		if c.At.Before(start.Add(-skew)) || c.At.After(end.Add(skew)) {
			t.Errorf("change #%d At = %v, want between %v and %v", i, c.At, start, end)
		}
		if i > 0 && c.At.Before(all[i-1].At) {
			t.Errorf("change #%d At = %v is before #%d At = %v, want oldest first", i, c.At, i-1, all[i-1].At)
		}
	}

	for i := range all {
		since := all[i].At
		got, err := s.Changes(ctx, since)
		if err != nil {
			t.Fatalf("Changes(%v): %v", since, err)
		}
		var want []store.Change
		for _, c := range all {
			if !c.At.Before(since) {
				want = append(want, c)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Changes(At of entry #%d) (-want +got):\n%s", i, diff)
		}
	}
	after := all[len(all)-1].At.Add(time.Microsecond)
	if got, err := s.Changes(ctx, after); err != nil || got != nil {
		t.Errorf("Changes(just after the last entry) = %v, %v; want nil, nil", got, err)
	}

	// Pages of every size read the whole feed once, in order.
	for i := 1; i < len(all); i++ {
		if all[i].Seq == all[i-1].Seq {
			t.Fatalf("changes #%d and #%d have the same Seq %d", i-1, i, all[i].Seq)
		}
	}
	for limit := 1; limit <= len(all)+1; limit++ {
		var got []store.Change
		var pos store.Change
		for range len(all) + 1 {
			page, err := s.ChangesAfter(ctx, pos, limit)
			if err != nil {
				t.Fatalf("ChangesAfter(%v, %d): %v", pos, limit, err)
			}
			if len(page) > limit {
				t.Fatalf("ChangesAfter(%v, %d) returned %d entries", pos, limit, len(page))
			}
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			pos = page[len(page)-1]
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("ChangesAfter in pages of %d (-want +got):\n%s", limit, diff)
		}
	}
	// A position with Seq 0 starts at its At, like Changes.
	if got, err := s.ChangesAfter(ctx, store.Change{At: all[2].At}, 100); err != nil {
		t.Fatalf("ChangesAfter: %v", err)
	} else if want, _ := s.Changes(ctx, all[2].At); !cmp.Equal(want, got) {
		t.Errorf("ChangesAfter(At of #2, Seq 0) = %v, want %v", got, want)
	}
	if got, err := s.ChangesAfter(ctx, all[len(all)-1], 10); err != nil || got != nil {
		t.Errorf("ChangesAfter(the last entry) = %v, %v; want nil, nil", got, err)
	}
	if _, err := s.ChangesAfter(ctx, store.Change{}, 0); err == nil {
		t.Error("ChangesAfter with limit 0 succeeded")
	}
	if got, err := s.LastChange(ctx); err != nil || got != all[len(all)-1] {
		t.Errorf("LastChange = %v, %v; want %v", got, err, all[len(all)-1])
	}
}

func testPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	revoke := map[string]time.Time{
		"expired":      now.Add(-time.Minute),
		"long-expired": now.Add(-48 * time.Hour),
		"valid":        now.Add(time.Hour),
		"valid-long":   now.Add(72 * time.Hour),
	}
	for jti, exp := range revoke {
		if err := s.RevokeToken(ctx, jti, exp); err != nil {
			t.Fatalf("RevokeToken(%q): %v", jti, err)
		}
	}
	mustCreate(t, s, minimalClient("a"))

	steps := []struct {
		now         time.Time
		revoked     []string
		wantChanges []string
	}{
		// Change-feed entries are an hour old only an hour from now; the
		// store's clock may be a little off ours.
		{now, []string{"valid", "valid-long"}, []string{"client:a"}},
		{now.Add(30 * time.Minute), []string{"valid", "valid-long"}, []string{"client:a"}},
		{now.Add(2 * time.Hour), []string{"valid-long"}, nil},
	}
	for _, step := range steps {
		if err := s.Prune(ctx, step.now); err != nil {
			t.Fatalf("Prune(%v): %v", step.now, err)
		}
		var got []string
		for _, jti := range slices.Sorted(maps.Keys(revoke)) {
			ok, err := s.IsTokenRevoked(ctx, jti, "a", t0)
			if err != nil {
				t.Fatalf("IsTokenRevoked(%q): %v", jti, err)
			}
			if ok {
				got = append(got, jti)
			}
		}
		if !slices.Equal(got, step.revoked) {
			t.Errorf("after Prune(now%+v): revoked tokens: got %q, want %q", step.now.Sub(now).Round(time.Minute), got, step.revoked)
		}
		if got := changes(t, s); !slices.Equal(got, step.wantChanges) {
			t.Errorf("after Prune(now%+v): change feed: got %q, want %q", step.now.Sub(now).Round(time.Minute), got, step.wantChanges)
		}
	}
	// Prune leaves clients and the audit trail alone.
	if diff := cmp.Diff(norm(minimalClient("a")), mustGet(t, s, "a")); diff != "" {
		t.Errorf("client after Prune (-want +got):\n%s", diff)
	}
	if got := len(auditActions(t, s, store.AuditFilter{})); got != 1 {
		t.Errorf("got %d audit events after Prune, want 1", got)
	}
}

func testSchemaVersion(t *testing.T, s store.Store) {
	applied, latest, err := s.SchemaVersion(t.Context())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if applied != latest || latest < 1 {
		t.Errorf("SchemaVersion: got applied %d, latest %d; want both the newest embedded version", applied, latest)
	}
}

// testUnavailable: a store that cannot reach its database says so with
// ErrUnavailable, which the server turns into 503 rather than 500.
func testUnavailable(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateClient(ctx, minimalClient("a"), store.AuditEvent{Action: "client.create"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := s.GetClient(ctx, "a")
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s on a closed store: got %v, want an error wrapping store.ErrUnavailable", op, err)
		}
	}
	check("GetClient", err)
	_, err = s.IsTokenRevoked(ctx, "jti", "a", time.Now())
	check("IsTokenRevoked", err)
	check("RevokeClientTokens", s.RevokeClientTokens(ctx, "a", time.Now(), time.Now().Add(time.Hour), nil, ev("client.revoke_tokens", "a")))
	_, err = s.ListRevocations(ctx, time.Time{}, time.Now(), 10)
	check("ListRevocations", err)
	check("RevokeToken", s.RevokeToken(ctx, "jti", time.Now().Add(time.Hour)))
	_, err = s.GetSession(ctx, "sess")
	check("GetSession", err)
	_, err = s.GetUser(ctx, "usr")
	check("GetUser", err)
	_, err = s.Changes(ctx, time.Time{})
	check("Changes", err)
	_, err = s.ChangesAfter(ctx, store.Change{}, 10)
	check("ChangesAfter", err)
	_, err = s.LastChange(ctx)
	check("LastChange", err)
	_, _, err = s.SchemaVersion(ctx)
	check("SchemaVersion", err)
}
