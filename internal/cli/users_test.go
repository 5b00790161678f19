package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/testutil"
)

func TestUsersCLI(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		switch k {
		case "GATEHOUSE_DATA_DIR":
			return dir
		case "USER":
			return "tester"
		}
		return ""
	}
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	const pw = "a good long password"

	if code, out, errOut := run(pw+"\n", "users", "create", "--username", "Alice", "--display-name", "Alice A", "--role", "admin"); code != 0 || !strings.Contains(out, "Created admin Alice") {
		t.Fatalf("users create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"duplicate", pw, []string{"users", "create", "--username", "alice"}, 1, "taken"},
		{"short password", "short\n", []string{"users", "create", "--username", "bob"}, 1, "at least 12"},
		{"no password", "", []string{"users", "create", "--username", "bob"}, 2, "no password on standard input"},
		{"no username", pw, []string{"users", "create"}, 2, "--username is required"},
		{"bad role", pw, []string{"users", "create", "--username", "bob", "--role", "root"}, 2, "--role"},
		{"password flag", pw, []string{"users", "create", "--username", "bob", "--password", pw}, 2, "unknown flag"},
		{"unknown user", pw, []string{"users", "set-password", "nobody"}, 1, "not found"},
	} {
		code, _, errOut := run(tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, errOut, tc.code, tc.stderr)
		}
		if strings.Contains(errOut, pw) {
			t.Errorf("%s: stderr contains the password", tc.name)
		}
	}
	if code, _, errOut := run("x\nbob-password-1\n", "users", "create", "--username", "bob"); code == 0 {
		t.Errorf("users create with a short first line succeeded; stderr %q", errOut)
	}
	if code, _, errOut := run("bob password 123\n", "users", "create", "--username", "bob"); code != 0 {
		t.Fatalf("users create bob: exit %d: %s", code, errOut)
	}

	code, out, _ := run("", "users", "list", "--output", "json")
	var list []struct {
		ID, Username, DisplayName, Role string
		Disabled                        bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("users list --output json: exit %d, %q", code, out)
	}
	if len(list) != 2 || list[0].Username != "Alice" || list[0].Role != "admin" || list[1].Username != "bob" || list[1].Role != "member" {
		t.Errorf("users list = %+v; want Alice (admin), bob (member)", list)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "password") {
		t.Errorf("users list shows password hashes: %s", out)
	}
	code, out, _ = run("", "users", "list")
	if code != 0 || !strings.Contains(out, "USERNAME") || !strings.Contains(out, "bob") {
		t.Errorf("users list: exit %d, %q", code, out)
	}

	// A session of bob's ends when he is disabled, and when his password is set.
	st, err := backend.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bobID := list[1].ID
	addSession := func(id string) {
		now := time.Now()
		if err := st.CreateSession(context.Background(), store.Session{ID: id, UserID: bobID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	sessionGone := func(what, id string) {
		if _, err := st.GetSession(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: session still there (%v)", what, err)
		}
	}
	addSession("s1")
	if code, out, errOut := run("", "users", "disable", "BOB"); code != 0 || !strings.Contains(out, "Disabled bob") {
		t.Errorf("users disable: exit %d, %q, %q", code, out, errOut)
	}
	sessionGone("disable", "s1")
	_, out, _ = run("", "users", "list")
	if !strings.Contains(out, "disabled") {
		t.Errorf("users list after disable does not say disabled:\n%s", out)
	}
	if code, out, errOut := run("", "users", "enable", "bob"); code != 0 || !strings.Contains(out, "Enabled bob") {
		t.Errorf("users enable: exit %d, %q, %q", code, out, errOut)
	}
	addSession("s2")
	if code, out, errOut := run("another long password\n", "users", "set-password", "bob"); code != 0 || !strings.Contains(out, "Password of bob set") {
		t.Errorf("users set-password: exit %d, %q, %q", code, out, errOut)
	}
	sessionGone("set-password", "s2")
	u, err := st.GetUser(context.Background(), bobID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secret.VerifyPassword("another long password", u.PasswordHash); !ok {
		t.Error("set-password did not set the password")
	}

	ev, err := st.ListAudit(context.Background(), store.AuditFilter{Target: bobID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ev {
		got = append(got, e.Action+" by "+strings.SplitN(e.Actor, "@", 2)[0])
		if strings.Contains(e.Detail, "password ") && strings.Contains(e.Detail, pw) {
			t.Errorf("audit detail contains a password: %q", e.Detail)
		}
	}
	want := "user.set_password by cli:tester,user.enable by cli:tester,user.disable by cli:tester,user.create by cli:tester"
	if strings.Join(got, ",") != want {
		t.Errorf("audit = %s; want %s", strings.Join(got, ","), want)
	}
}

func TestServePrintsSetupLink(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATA_DIR" {
			return dir
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errOut testutil.SyncBuffer
	done := make(chan int)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, getenv, strings.NewReader(""), io.Discard, &errOut)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errOut.String())
		}
	}()
	linkRE := regexp.MustCompile(`(?m)^    (http://127\.0\.0\.1:\d+/console/setup\?token=[A-Za-z0-9_-]{43})$`)
	var link string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := linkRE.FindStringSubmatch(errOut.String()); m != nil {
			link = m[1]
			break
		}
	}
	if link == "" {
		t.Fatalf("no setup link on stderr:\n%s", errOut.String())
	}
	// The token is a credential: printed for the operator, never in a log record.
	if n := strings.Count(errOut.String(), link); n != 1 {
		t.Errorf("the setup link appears %d times on stderr, want once (printed, not logged):\n%s", n, errOut.String())
	}
	// The database holds only the token's digest.
	tok := link[strings.LastIndex(link, "=")+1:]
	for _, f := range []string{"gatehouse.db", "gatehouse.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && bytes.Contains(b, []byte(tok)) {
			t.Errorf("%s contains the setup token", f)
		}
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Create the first administrator") {
		t.Errorf("GET setup link: %d\n%s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY", got)
	}
}

func TestUsersShowDelete(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATA_DIR" {
			return dir
		}
		return ""
	}
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	const pw = "a good long password\n"
	for _, args := range [][]string{
		{"users", "create", "--username", "ann", "--role", "admin"},
		{"users", "create", "--username", "mo"},
	} {
		if code, _, errOut := run(pw, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	code, out, errOut := run("", "users", "show", "ANN", "--output", "json")
	var u struct{ ID, Username, Role string }
	if err := json.Unmarshal([]byte(out), &u); code != 0 || err != nil || u.Username != "ann" || u.Role != "admin" || u.ID == "" {
		t.Fatalf("users show ANN: exit %d, %q (%v), stderr %q; want ann, admin", code, out, err, errOut)
	}
	if code, out, _ := run("", "users", "show", "mo"); code != 0 || !strings.Contains(out, "role:          member") {
		t.Errorf("users show mo: exit %d, %q", code, out)
	}

	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"users", "delete", "ann"}, 1, "", "gatehouse: cannot delete ann, the last enabled administrator; create or enable another admin first: no other enabled administrator would be left\n"},
		{[]string{"users", "disable", "ann"}, 1, "", "gatehouse: cannot disable ann, the last enabled administrator; create or enable another admin first"},
		{[]string{"users", "delete", "nobody"}, 1, "", "not found"},
		{[]string{"users", "delete"}, 2, "", "USERNAME"},
		{[]string{"users", "delete", "mo"}, 0, "Deleted member mo", ""},
		{[]string{"users", "show", "mo"}, 1, "", "not found"},
	} {
		code, out, errOut := run("", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
		}
	}
	if _, out, _ := run("", "audit", "--action", "user.delete"); !strings.Contains(out, `username "mo"`) {
		t.Errorf("audit has no user.delete of mo:\n%s", out)
	}
}
