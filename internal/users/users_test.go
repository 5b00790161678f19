package users_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/sqlite"
	"github.com/gatehouse/gatehouse/internal/testutil"
	"github.com/gatehouse/gatehouse/internal/users"
)

func setup(t *testing.T, o users.Options) (*users.Service, store.Store, *testutil.Clock) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/g.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testutil.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	o.Store, o.Now, o.Password = st, clk.Now, testutil.CheapPassword()
	return users.New(o), st, clk
}

const pw = "a good long password"

func TestCreate(t *testing.T) {
	ctx := context.Background()
	svc, st, _ := setup(t, users.Options{})
	u, err := svc.Create(ctx, "cli:test", users.Spec{Username: "Alice", Password: pw, Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.ID, "usr_") || u.DisplayName != "Alice" || u.Role != store.RoleAdmin {
		t.Errorf("created %+v; want usr_ ID, display name Alice, role admin", u)
	}
	if strings.Contains(u.PasswordHash, pw) || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("password hash = %q; want an argon2id PHC string", u.PasswordHash)
	}
	_, err = svc.Create(ctx, "cli:test", users.Spec{Username: "alice", Password: pw})
	if !errors.Is(err, users.ErrUsernameTaken) || !strings.Contains(err.Error(), "taken") {
		t.Errorf("duplicate username (other case): got %v, want ErrUsernameTaken", err)
	}
	ev, err := st.ListAudit(ctx, store.AuditFilter{Target: u.ID})
	if err != nil || len(ev) != 1 || ev[0].Action != "user.create" || ev[0].Actor != "cli:test" {
		t.Errorf("audit = %+v, %v; want one user.create by cli:test", ev, err)
	}
	if has, err := svc.HasAdmin(ctx); !has || err != nil {
		t.Errorf("HasAdmin = %v, %v; want true", has, err)
	}
	got, err := svc.GetByUsername(ctx, "ALICE")
	if err != nil || got.ID != u.ID {
		t.Errorf("GetByUsername(ALICE) = %v, %v; want %s", got.ID, err, u.ID)
	}
}

func TestCreateInvalid(t *testing.T) {
	svc, _, _ := setup(t, users.Options{})
	for _, sp := range []users.Spec{
		{Username: "", Password: pw},
		{Username: "bob smith", Password: pw},
		{Username: "-bob", Password: pw},
		{Username: strings.Repeat("b", 65), Password: pw},
		{Username: "bob", Password: "short"},
		{Username: "bob", Password: pw, Role: "root"},
	} {
		_, err := svc.Create(context.Background(), "t", sp)
		var ve *users.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("Create(%+v) = %v; want a ValidationError", sp, err)
		}
	}
	if has, _ := svc.HasAdmin(context.Background()); has {
		t.Error("HasAdmin = true after only failed creates")
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := setup(t, users.Options{})
	u, err := svc.Create(ctx, "t", users.Spec{Username: "carol", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Authenticate(ctx, "Carol", pw, "10.0.0.1"); err != nil || got.ID != u.ID {
		t.Errorf("right password: got %v, %v; want %s", got.ID, err, u.ID)
	}
	for _, tc := range []struct{ user, pw string }{{"carol", pw + "x"}, {"nobody", pw}, {"carol", ""}} {
		if _, err := svc.Authenticate(ctx, tc.user, tc.pw, "10.0.0.1"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v; want ErrInvalidCredentials", tc.user, tc.pw, err)
		}
	}
}

func TestRateLimitPerUser(t *testing.T) {
	ctx := context.Background()
	svc, _, clk := setup(t, users.Options{FailuresPerUser: 1, FailuresPerAddress: -1, FailureBurst: 2})
	if _, err := svc.Create(ctx, "t", users.Spec{Username: "dave", Password: pw}); err != nil {
		t.Fatal(err)
	}
	// A success spends nothing.
	for range 5 {
		if _, err := svc.Authenticate(ctx, "dave", pw, "10.0.0.1"); err != nil {
			t.Fatalf("right password: %v", err)
		}
	}
	for i := range 2 {
		if _, err := svc.Authenticate(ctx, "dave", "wrong", "10.0.0."+string(rune('2'+i))); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("failure %d: got %v, want ErrInvalidCredentials", i+1, err)
		}
	}
	// Over the limit, even the right password from another address is refused.
	_, err := svc.Authenticate(ctx, "DAVE", pw, "10.0.0.9")
	var rl *users.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
		t.Fatalf("over the limit: got %v, want RateLimitError with 0 < RetryAfter <= 1m", err)
	}
	// Other users are not affected.
	if _, err := svc.Authenticate(ctx, "erin", "x", "10.0.0.9"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("another username: got %v, want ErrInvalidCredentials", err)
	}
	clk.Add(rl.RetryAfter)
	if _, err := svc.Authenticate(ctx, "dave", pw, "10.0.0.9"); err != nil {
		t.Errorf("after RetryAfter: got %v, want success", err)
	}
}

func TestRateLimitPerAddress(t *testing.T) {
	ctx := context.Background()
	svc, _, clk := setup(t, users.Options{FailuresPerUser: -1, FailuresPerAddress: 1, FailureBurst: 3})
	if _, err := svc.Create(ctx, "t", users.Spec{Username: "frank", Password: pw}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, err := svc.Authenticate(ctx, name, "x", "192.0.2.1"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("failure for %s: got %v", name, err)
		}
	}
	var rl *users.RateLimitError
	if _, err := svc.Authenticate(ctx, "frank", pw, "192.0.2.1"); !errors.As(err, &rl) {
		t.Errorf("address over the limit: got %v, want RateLimitError", err)
	}
	if _, err := svc.Authenticate(ctx, "frank", pw, "192.0.2.2"); err != nil {
		t.Errorf("another address: got %v, want success", err)
	}
	clk.Add(time.Minute)
	if _, err := svc.Authenticate(ctx, "frank", pw, "192.0.2.1"); err != nil {
		t.Errorf("a minute later: got %v, want success", err)
	}
}

func TestDisableAndSetPasswordEndSessions(t *testing.T) {
	ctx := context.Background()
	svc, st, clk := setup(t, users.Options{})
	u, err := svc.Create(ctx, "t", users.Spec{Username: "gina", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	newSession := func(id string) {
		t.Helper()
		now := clk.Now()
		if err := st.CreateSession(ctx, store.Session{ID: id, UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(id string) {
		t.Helper()
		if _, err := st.GetSession(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s: got %v, want ErrNotFound", id, err)
		}
	}

	newSession("s1")
	if _, err := svc.Disable(ctx, "t", u.ID); err != nil {
		t.Fatal(err)
	}
	gone("s1")
	if _, err := svc.Authenticate(ctx, "gina", pw, "a"); !errors.Is(err, users.ErrDisabled) {
		t.Errorf("disabled, right password: got %v, want ErrDisabled", err)
	}
	if _, err := svc.Authenticate(ctx, "gina", "wrong", "a"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("disabled, wrong password: got %v, want ErrInvalidCredentials", err)
	}
	if got, err := svc.Enable(ctx, "t", u.ID); err != nil || got.Disabled {
		t.Fatalf("Enable = %+v, %v", got, err)
	}
	if _, err := svc.Authenticate(ctx, "gina", pw, "a"); err != nil {
		t.Errorf("enabled: got %v, want success", err)
	}

	newSession("s2")
	const pw2 = "another long password"
	if err := svc.SetPassword(ctx, "t", u.ID, "short"); err == nil {
		t.Error("SetPassword(short) succeeded")
	}
	if err := svc.SetPassword(ctx, "t", u.ID, pw2); err != nil {
		t.Fatal(err)
	}
	gone("s2")
	if _, err := svc.Authenticate(ctx, "gina", pw, "b"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("old password: got %v, want ErrInvalidCredentials", err)
	}
	if _, err := svc.Authenticate(ctx, "gina", pw2, "b"); err != nil {
		t.Errorf("new password: got %v", err)
	}
	ev, _ := st.ListAudit(ctx, store.AuditFilter{Target: u.ID})
	var actions []string
	for _, e := range ev {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, ","), "user.set_password,user.enable,user.disable,user.create"; got != want {
		t.Errorf("audit actions = %s; want %s", got, want)
	}
	if _, err := svc.Disable(ctx, "t", "usr_nope"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Disable(unknown) = %v; want ErrNotFound", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	svc, st, _ := setup(t, users.Options{})
	create := func(name, role string) store.User {
		t.Helper()
		u, err := svc.Create(ctx, "t", users.Spec{Username: name, Password: pw, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ann, bob, mem := create("ann", store.RoleAdmin), create("bob", store.RoleAdmin), create("mem", store.RoleMember)

	if got, err := svc.Delete(ctx, "cli:t", mem.ID); err != nil || got.Username != "mem" {
		t.Fatalf("Delete(member) = %+v, %v; want mem deleted", got, err)
	}
	if _, err := svc.Get(ctx, mem.ID); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
	}
	ev, err := st.ListAudit(ctx, store.AuditFilter{Target: mem.ID, Action: "user.delete"})
	if err != nil || len(ev) != 1 || ev[0].Actor != "cli:t" || !strings.Contains(ev[0].Detail, `"mem"`) {
		t.Errorf("audit = %+v, %v; want one user.delete of mem by cli:t", ev, err)
	}

	// A disabled admin does not count: with bob disabled, ann is the last.
	if _, err := svc.Disable(ctx, "t", bob.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Delete(ctx, "t", ann.ID)
	if !errors.Is(err, users.ErrLastAdmin) || !strings.Contains(err.Error(), "cannot delete ann, the last enabled administrator") {
		t.Errorf("Delete(last admin): got %v, want ErrLastAdmin naming ann", err)
	}
	if _, err := svc.Get(ctx, ann.ID); err != nil {
		t.Errorf("the last admin is gone after a refused Delete: %v", err)
	}
	// The disabled admin may go; then, with another admin, so may ann.
	if _, err := svc.Delete(ctx, "t", bob.ID); err != nil {
		t.Errorf("Delete(disabled admin): %v", err)
	}
	create("cat", store.RoleAdmin)
	if _, err := svc.Delete(ctx, "t", ann.ID); err != nil {
		t.Errorf("Delete(admin with another admin left): %v", err)
	}
	if _, err := svc.Delete(ctx, "t", "usr_nobody"); !errors.Is(err, users.ErrNotFound) {
		t.Errorf("Delete(unknown): got %v, want ErrNotFound", err)
	}
}
