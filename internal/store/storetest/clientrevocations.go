package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse/gatehouse/internal/store"
)

// The revocation of everything issued to a client before a time
// (RevokeClientTokens), and how it shows in IsTokenRevoked,
// ListRevocations and Prune.

// listRevocations is ListRevocations that fails the test on an error and
// checks the times it returns.
func listRevocations(t *testing.T, s store.Store, since, now time.Time, limit int) []store.Revocation {
	t.Helper()
	got, err := s.ListRevocations(t.Context(), since, now, limit)
	if err != nil {
		t.Fatalf("ListRevocations(%v, %v, %d): %v", since, now, limit, err)
	}
	for _, r := range got {
		checkUTC(t, "revocation "+r.JTI+r.ClientID, r.IssuedBefore, r.ExpiresAt, r.RevokedAt)
	}
	return got
}

// clientRevocation returns the entry of ListRevocations(zero, now, 0) for
// the client; ok is false if there is none.
func clientRevocation(t *testing.T, s store.Store, clientID string, now time.Time) (store.Revocation, bool) {
	t.Helper()
	var found []store.Revocation
	for _, r := range listRevocations(t, s, time.Time{}, now, 0) {
		if r.ClientID == clientID {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return store.Revocation{}, false
	case 1:
		return found[0], true
	}
	t.Fatalf("ListRevocations lists client %q %d times", clientID, len(found))
	return store.Revocation{}, false
}

// isRevoked is IsTokenRevoked that fails the test on an error.
func isRevoked(t *testing.T, s store.Store, jti, clientID string, iat time.Time) bool {
	t.Helper()
	ok, err := s.IsTokenRevoked(t.Context(), jti, clientID, iat)
	if err != nil {
		t.Fatalf("IsTokenRevoked(%q, %q, %v): %v", jti, clientID, iat, err)
	}
	return ok
}

// revocationEntry names an entry of ListRevocations: "token:JTI" or
// "client:ID".
func revocationEntry(r store.Revocation) string {
	if r.ClientID != "" {
		return "client:" + r.ClientID
	}
	return "token:" + r.JTI
}

func revocationEntries(rs []store.Revocation) []string {
	var out []string
	for _, r := range rs {
		out = append(out, revocationEntry(r))
	}
	return out
}

func testRevokeClientTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	mustCreate(t, s, minimalClient("c2"))
	mustCreateRefresh(t, s, refresh("cc-1", "fcc", "c1", "")) // client credentials
	mustCreateRefresh(t, s, refresh("u-1", "fu", "c1", "u1"))
	mustRotate(t, s, "u-1", t0.Add(time.Minute), store.RefreshToken{ID: "u-2"})
	mustCreateRefresh(t, s, refresh("old-1", "fold", "c1", "u1"))
	revokedEarlier := t0.Add(2 * time.Minute)
	if err := s.RevokeRefreshFamily(ctx, "fold", revokedEarlier); err != nil {
		t.Fatalf("RevokeRefreshFamily: %v", err)
	}
	mustCreateRefresh(t, s, refresh("other-1", "fother", "c2", "u1")) // another client

	// before has nanoseconds (t0's): stored to the microsecond.
	before := t0.Add(time.Hour)
	exp := before.Add(30*24*time.Hour + 1)
	e := ev("client.revoke_tokens", "c1")
	e.Time = before
	start := time.Now()
	if err := s.RevokeClientTokens(ctx, "c1", before, exp, nil, e); err != nil {
		t.Fatalf("RevokeClientTokens: %v", err)
	}
	end := time.Now()

	// The feed's entry.
	all := listRevocations(t, s, time.Time{}, t0, 0)
	want := []store.Revocation{{ClientID: "c1", IssuedBefore: normTime(before), ExpiresAt: normTime(exp)}}
	if diff := cmp.Diff(want, all, cmpopts.IgnoreFields(store.Revocation{}, "RevokedAt")); diff != "" {
		t.Fatalf("ListRevocations after RevokeClientTokens (-want +got):\n%s", diff)
	}
	// RevokedAt comes from the store's clock, which may be another machine's.
	const skew = time.Minute
	if r := all[0].RevokedAt; r.Before(start.Add(-skew)) || r.After(end.Add(skew)) {
		t.Errorf("RevokedAt = %v, want between %v and %v", r, start, end)
	}

	// Which tokens it revokes: the client's, issued at or before the stored
	// IssuedBefore.
	stored := normTime(before)
	for _, tt := range []struct {
		name     string
		clientID string
		iat      time.Time
		want     bool
	}{
		{"issued at IssuedBefore", "c1", stored, true},
		{"issued a microsecond later", "c1", stored.Add(time.Microsecond), false},
		{"iat in the same second (whole seconds)", "c1", before.Truncate(time.Second), true},
		{"iat the next second", "c1", before.Truncate(time.Second).Add(time.Second), false},
		{"issued a day earlier", "c1", before.Add(-24 * time.Hour), true},
		{"no iat (fail closed)", "c1", time.Time{}, true},
		{"another client", "c2", before.Add(-time.Hour), false},
		{"no client", "", before.Add(-time.Hour), false},
		{"a client ID differing in case", "C1", before.Add(-time.Hour), false},
	} {
		if got := isRevoked(t, s, "jti-"+tt.name, tt.clientID, tt.iat); got != tt.want {
			t.Errorf("%s: IsTokenRevoked(client %q, iat %v): got %v, want %v", tt.name, tt.clientID, tt.iat, got, tt.want)
		}
	}

	// Every live refresh token family of the client is revoked at before;
	// one revoked earlier keeps its time; another client's stays live.
	for _, tt := range []struct {
		id          string
		wantRevoked time.Time
	}{
		{"cc-1", before}, {"u-1", before}, {"u-2", before},
		{"old-1", revokedEarlier},
		{"other-1", time.Time{}},
	} {
		if got := mustGetRefresh(t, s, tt.id).RevokedAt; !got.Equal(normTime(tt.wantRevoked)) {
			t.Errorf("refresh token %q after RevokeClientTokens: RevokedAt = %v, want %v", tt.id, got, normTime(tt.wantRevoked))
		}
	}
	if _, err := s.RotateRefreshToken(ctx, "u-2", before.Add(time.Minute), store.RefreshToken{ID: "u-3"}); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("RotateRefreshToken after RevokeClientTokens: got error %v, want ErrRevoked", err)
	}
	refreshGone(t, s, "u-3")

	// Its audit event, and no change-feed entry (no client changed).
	evs, err := s.ListAudit(ctx, store.AuditFilter{Action: "client.revoke_tokens"})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	e.Time = normTime(e.Time)
	if diff := cmp.Diff([]store.AuditEvent{e}, evs, cmpopts.IgnoreFields(store.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if got, want := changes(t, s), []string{"client:c1", "client:c2"}; !slices.Equal(got, want) {
		t.Errorf("change feed: got %q, want %q (RevokeClientTokens writes none)", got, want)
	}

	// What is issued afterwards is not revoked.
	mustCreateRefresh(t, s, refresh("new-1", "fnew", "c1", ""))
	if got := mustGetRefresh(t, s, "new-1").RevokedAt; !got.IsZero() {
		t.Errorf("a refresh token family created after RevokeClientTokens: RevokedAt = %v, want live", got)
	}

	// Deleting the client keeps its revocation: its tokens may still be
	// valid at resource servers that have not polled the feed yet.
	if err := s.DeleteClient(ctx, "c1", nil, ev("client.delete", "c1")); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if diff := cmp.Diff(all, listRevocations(t, s, time.Time{}, t0, 0)); diff != "" {
		t.Errorf("ListRevocations after DeleteClient (-want +got):\n%s", diff)
	}
	if !isRevoked(t, s, "jti", "c1", stored) {
		t.Errorf("IsTokenRevoked after DeleteClient: got false, want true")
	}
}

// testRevokeClientTokensAgain: a second revocation keeps the later
// IssuedBefore and the later ExpiresAt, and is stamped again (so that the
// feed sends it again) only if one of them moved.
func testRevokeClientTokensAgain(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("c1"))
	calls := 0
	revoke := func(before, exp time.Time) store.Revocation {
		t.Helper()
		time.Sleep(2 * time.Millisecond) // a later stamp than the one before
		calls++
		if err := s.RevokeClientTokens(ctx, "c1", before, exp, nil, ev("client.revoke_tokens", "c1")); err != nil {
			t.Fatalf("RevokeClientTokens(%v, %v): %v", before, exp, err)
		}
		r, ok := clientRevocation(t, s, "c1", t0)
		if !ok {
			t.Fatalf("RevokeClientTokens(%v, %v): ListRevocations lists no revocation of the client", before, exp)
		}
		return r
	}
	first := revoke(t0, t0.Add(2*time.Hour))

	for _, tt := range []struct {
		name                 string
		before, exp          time.Time
		wantBefore, wantExp  time.Time
		wantRestamp          bool
		revokedAt, notBefore time.Time // IsTokenRevoked at these iats afterwards: true, false
	}{
		{"the same again", t0, t0.Add(2 * time.Hour), t0, t0.Add(2 * time.Hour), false, t0, t0.Add(time.Second)},
		{"both earlier", t0.Add(-time.Minute), t0.Add(time.Hour), t0, t0.Add(2 * time.Hour), false, t0, t0.Add(time.Second)},
		{"later time, earlier expiry", t0.Add(time.Minute), t0.Add(90 * time.Minute), t0.Add(time.Minute), t0.Add(2 * time.Hour), true,
			t0.Add(30 * time.Second), t0.Add(time.Minute + time.Second)},
		{"the same time, later expiry", t0.Add(time.Minute), t0.Add(3 * time.Hour), t0.Add(time.Minute), t0.Add(3 * time.Hour), true,
			t0.Add(time.Minute), t0.Add(time.Minute + time.Second)},
		{"earlier time, later expiry", t0, t0.Add(4 * time.Hour), t0.Add(time.Minute), t0.Add(4 * time.Hour), true,
			t0.Add(time.Minute), t0.Add(time.Minute + time.Second)},
	} {
		prev, _ := clientRevocation(t, s, "c1", t0)
		got := revoke(tt.before, tt.exp)
		want := store.Revocation{ClientID: "c1", IssuedBefore: normTime(tt.wantBefore), ExpiresAt: normTime(tt.wantExp), RevokedAt: prev.RevokedAt}
		if tt.wantRestamp {
			if !got.RevokedAt.After(prev.RevokedAt) {
				t.Errorf("%s: RevokedAt = %v, want after the previous %v (stamped again)", tt.name, got.RevokedAt, prev.RevokedAt)
			}
			want.RevokedAt = got.RevokedAt
			// The feed read from just after the previous stamp has it again.
			if entries := revocationEntries(listRevocations(t, s, prev.RevokedAt.Add(time.Microsecond), t0, 0)); !slices.Equal(entries, []string{"client:c1"}) {
				t.Errorf("%s: ListRevocations since the previous stamp: got %q, want the client's entry", tt.name, entries)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the client's revocation (-want +got):\n%s", tt.name, diff)
		}
		if !isRevoked(t, s, "jti", "c1", tt.revokedAt) || isRevoked(t, s, "jti", "c1", tt.notBefore) {
			t.Errorf("%s: IsTokenRevoked at %v and %v: got %v and %v, want true and false", tt.name, tt.revokedAt, tt.notBefore,
				isRevoked(t, s, "jti", "c1", tt.revokedAt), isRevoked(t, s, "jti", "c1", tt.notBefore))
		}
	}
	if r, _ := clientRevocation(t, s, "c1", t0); !r.RevokedAt.After(first.RevokedAt) {
		t.Errorf("RevokedAt after moving forward: %v, want after the first %v", r.RevokedAt, first.RevokedAt)
	}
	// Every call records its event, whether or not it moved anything.
	if got := len(auditActions(t, s, store.AuditFilter{Action: "client.revoke_tokens"})); got != calls {
		t.Errorf("got %d client.revoke_tokens audit events, want %d", got, calls)
	}
}

func testRevokeClientTokensFailures(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreate(t, s, minimalClient("c1"))
	mustCreateRefresh(t, s, refresh("cc-1", "fcc", "c1", ""))
	for _, id := range []string{"nope", "C1", ""} {
		err := s.RevokeClientTokens(ctx, id, t0, t0.Add(time.Hour), nil, ev("client.revoke_tokens", id))
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeClientTokens(%q): got error %v, want ErrNotFound", id, err)
		}
	}
	// Nothing written.
	if got := listRevocations(t, s, time.Time{}, t0, 0); got != nil {
		t.Errorf("ListRevocations after failed calls: got %+v, want nil", got)
	}
	if isRevoked(t, s, "jti", "nope", t0.Add(-time.Hour)) {
		t.Error("IsTokenRevoked for the unknown client: got true, want false")
	}
	if got := mustGetRefresh(t, s, "cc-1").RevokedAt; !got.IsZero() {
		t.Errorf("a failed RevokeClientTokens revoked a refresh token at %v", got)
	}
	if got := auditActions(t, s, store.AuditFilter{Action: "client.revoke_tokens"}); got != nil {
		t.Errorf("audit events of failed calls: %q", got)
	}
}

// testListRevocationsWithClients: revocations of tokens and of clients'
// tokens make one list, ordered by RevokedAt, with since, now and limit
// applying to both.
func testListRevocationsWithClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	for _, id := range []string{"b", "a", "Z", "gone"} {
		mustCreate(t, s, minimalClient(id))
	}
	exp := map[string]time.Time{
		"token:j2":    now.Add(time.Hour),
		"client:b":    now.Add(2 * time.Hour),
		"token:j1":    now.Add(30 * time.Minute),
		"client:gone": now.Add(-time.Minute),
		"client:a":    now.Add(3 * time.Hour),
		"client:Z":    now.Add(time.Minute),
		"token:j3":    now.Add(4 * time.Hour),
	}
	// Recorded in this order, which is neither the IDs' order nor the
	// kinds'; the pauses give each a later stamp than the one before.
	order := []string{"token:j2", "client:b", "token:j1", "client:gone", "client:a", "client:Z", "token:j3"}
	for _, entry := range order {
		var err error
		switch kind, id, _ := strings.Cut(entry, ":"); kind {
		case "token":
			err = s.RevokeToken(ctx, id, exp[entry])
		case "client":
			err = s.RevokeClientTokens(ctx, id, now, exp[entry], nil, ev("client.revoke_tokens", id))
		}
		if err != nil {
			t.Fatalf("revoke %s: %v", entry, err)
		}
		time.Sleep(2 * time.Millisecond)
	}

	all := listRevocations(t, s, time.Time{}, now, 0)
	if got, want := revocationEntries(all), []string{"token:j2", "client:b", "token:j1", "client:a", "client:Z", "token:j3"}; !slices.Equal(got, want) {
		t.Fatalf("ListRevocations(zero, now, 0): got %q, want %q (revocation order, without the expired one)", got, want)
	}
	for i, r := range all {
		if want := normTime(exp[revocationEntry(r)]); !r.ExpiresAt.Equal(want) {
			t.Errorf("%s: ExpiresAt = %v, want %v", revocationEntry(r), r.ExpiresAt, want)
		}
		switch {
		case r.ClientID != "" && (r.JTI != "" || !r.IssuedBefore.Equal(normTime(now))):
			t.Errorf("%s: JTI %q, IssuedBefore %v; want none and %v", revocationEntry(r), r.JTI, r.IssuedBefore, normTime(now))
		case r.ClientID == "" && !r.IssuedBefore.IsZero():
			t.Errorf("%s: IssuedBefore %v, want zero", revocationEntry(r), r.IssuedBefore)
		}
		if i > 0 && !all[i-1].RevokedAt.Before(r.RevokedAt) {
			t.Errorf("#%d %s RevokedAt %v is not after #%d's %v", i, revocationEntry(r), r.RevokedAt, i-1, all[i-1].RevokedAt)
		}
	}

	// since: RevokedAt >= since, whatever the kind.
	for i := range all {
		if diff := cmp.Diff(all[i:], listRevocations(t, s, all[i].RevokedAt, now, 0)); diff != "" {
			t.Errorf("ListRevocations(RevokedAt of #%d) (-want +got):\n%s", i, diff)
		}
	}
	// now: only those that expire after it.
	for _, tt := range []struct {
		now  time.Time
		want []string
	}{
		{now.Add(-2 * time.Minute), []string{"token:j2", "client:b", "token:j1", "client:gone", "client:a", "client:Z", "token:j3"}},
		{now.Add(2 * time.Minute), []string{"token:j2", "client:b", "token:j1", "client:a", "token:j3"}},
		{normTime(exp["client:b"]), []string{"client:a", "token:j3"}}, // expiring exactly at now is expired
		{now.Add(5 * time.Hour), nil},
	} {
		if got := revocationEntries(listRevocations(t, s, time.Time{}, tt.now, 0)); !slices.Equal(got, tt.want) {
			t.Errorf("ListRevocations(zero, now%+v, 0): got %q, want %q", tt.now.Sub(now), got, tt.want)
		}
	}
	// limit: the first ones in order, whatever the kind.
	for n := 1; n <= len(all)+1; n++ {
		if diff := cmp.Diff(all[:min(n, len(all))], listRevocations(t, s, time.Time{}, now, n)); diff != "" {
			t.Errorf("ListRevocations(zero, now, %d) (-want +got):\n%s", n, diff)
		}
	}
	if diff := cmp.Diff(all[1:3], listRevocations(t, s, all[1].RevokedAt, now, 2)); diff != "" {
		t.Errorf("ListRevocations(RevokedAt of #1, now, 2) (-want +got):\n%s", diff)
	}
}

// testRevokeClientTokensDuringRotation: rotations of a family of the client
// running while its tokens are revoked end revoked, the tokens they made
// included.
func testRevokeClientTokensDuringRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, s, member("u1"))
	mustCreate(t, s, minimalClient("c1"))
	mustCreateRefresh(t, s, refresh("t0", "f", "c1", "u1"))
	const steps = 200
	var (
		wg      sync.WaitGroup
		made    = []string{"t0"}
		started = make(chan struct{})
		lastErr error
	)
	wg.Go(func() {
		defer func() {
			if len(made) < 3 {
				close(started)
			}
		}()
		cur := "t0"
		for i := 1; i <= steps; i++ {
			next := fmt.Sprintf("t%d", i)
			_, err := s.RotateRefreshToken(ctx, cur, t0.Add(time.Duration(i)*time.Second), store.RefreshToken{ID: next})
			if err != nil {
				lastErr = err
				return
			}
			made = append(made, next)
			if len(made) == 3 {
				close(started)
			}
			cur = next
		}
	})
	<-started
	if err := s.RevokeClientTokens(ctx, "c1", t0.Add(time.Hour), t0.Add(2*time.Hour), nil, ev("client.revoke_tokens", "c1")); err != nil {
		t.Errorf("RevokeClientTokens: %v", err)
	}
	wg.Wait()
	if len(made) <= steps && !errors.Is(lastErr, store.ErrRevoked) {
		t.Errorf("rotation stopped with error %v, want ErrRevoked", lastErr)
	}
	for _, id := range made {
		if got := mustGetRefresh(t, s, id).RevokedAt; got.IsZero() {
			t.Errorf("token %q is live after its client's tokens were revoked", id)
		}
	}
}

func testPruneClientRevocations(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"a", "b"} {
		mustCreate(t, s, minimalClient(id))
	}
	expA, expB := normTime(t0.Add(time.Hour)), normTime(t0.Add(2*time.Hour))
	for id, exp := range map[string]time.Time{"a": expA, "b": expB} {
		if err := s.RevokeClientTokens(ctx, id, t0, exp, nil, ev("client.revoke_tokens", id)); err != nil {
			t.Fatalf("RevokeClientTokens(%q): %v", id, err)
		}
	}
	if err := s.RevokeToken(ctx, "j", expA); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	for _, step := range []struct {
		now  time.Time
		want []string
	}{
		{expA, []string{"client:a", "client:b", "token:j"}}, // expiring at now is kept
		{expA.Add(time.Microsecond), []string{"client:b"}},
		{expB.Add(time.Microsecond), nil},
	} {
		if err := s.Prune(ctx, step.now); err != nil {
			t.Fatalf("Prune(%v): %v", step.now, err)
		}
		// Listed as of t0, when none has expired: only Prune removes any.
		got := revocationEntries(listRevocations(t, s, time.Time{}, t0, 0))
		slices.Sort(got)
		if !slices.Equal(got, step.want) {
			t.Errorf("after Prune(%v): revocations %q, want %q", step.now, got, step.want)
		}
		for _, id := range []string{"a", "b"} {
			want := slices.Contains(step.want, "client:"+id)
			if got := isRevoked(t, s, "jti", id, t0); got != want {
				t.Errorf("after Prune(%v): IsTokenRevoked(client %q): got %v, want %v", step.now, id, got, want)
			}
		}
	}
}
