package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/users"
)

// usersBackend runs the users commands: on the store, through the user
// service (local), or through the admin API (--server).
type usersBackend interface {
	create(ctx context.Context, nu admin.NewUser) (admin.User, error)
	list(ctx context.Context) ([]admin.User, error)
	byUsername(ctx context.Context, username string) (admin.User, error)
	delete(ctx context.Context, id string) error
	setPassword(ctx context.Context, id, password string) error
	setDisabled(ctx context.Context, id string, disabled bool) error
}

func (e *env) usersCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create, list, show, disable, enable and delete users, and set their passwords",
	}
	sf := &serverFlag{}
	sf.register(cmd, true)
	with := func(run func(ctx context.Context, b usersBackend, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return onBackend(e, cmd, df, sf, nil,
				func(rc *remoteConn) (usersBackend, error) { return remoteUsers{rc.api}, nil },
				func(ctx context.Context, cfg config.Config) (usersBackend, func(), error) {
					st, err := backend.Open(ctx, cfg.Database, cfg.DataDir)
					if err != nil {
						return nil, nil, err
					}
					return localUsers{svc: app.UserService(st, cfg), actor: e.actor()}, func() { st.Close() }, nil
				},
				func(ctx context.Context, b usersBackend) error { return run(ctx, b, args) })
		}
	}
	cmd.AddCommand(
		e.usersCreateCmd(with),
		e.usersListCmd(with),
		e.usersShowCmd(with),
		e.usersDeleteCmd(with),
		e.usersSetPasswordCmd(with),
		e.usersSetDisabledCmd(with, true),
		e.usersSetDisabledCmd(with, false),
	)
	return cmd
}

type usersRunner = func(run func(ctx context.Context, b usersBackend, args []string) error) func(*cobra.Command, []string) error

const passwordHelp = `The password is never a flag. On a terminal it is prompted for twice,
without echo; otherwise it is read from standard input (the first line), e.g.
  printf '%s\n' "$PASSWORD" | gatehouse users ...
It must be 12 to 1024 characters.`

func (e *env) usersCreateCmd(with usersRunner) *cobra.Command {
	var username, displayName, role, output string
	cmd := &cobra.Command{
		Use:   "create --username NAME [--display-name NAME] [--role admin|member]",
		Short: "Create a user",
		Long:  "Create a user.\n\n" + passwordHelp,
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, b usersBackend, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if username == "" {
				return usagef("--username is required")
			}
			if role != store.RoleAdmin && role != store.RoleMember {
				return usagef("--role %q: use admin or member", role)
			}
			pw, err := e.readPassword()
			if err != nil {
				return err
			}
			u, err := b.create(ctx, admin.NewUser{Username: username, DisplayName: displayName, Password: pw, Role: role})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, u)
			}
			fmt.Fprintf(e.stdout, "Created %s %s (%s), ID %s\n", u.Role, u.Username, u.DisplayName, u.ID)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&username, "username", "", "login name: 1-64 of letters, digits, . _ - @ (unique, case-insensitive)")
	f.StringVar(&displayName, "display-name", "", "name shown in the console (default: the username)")
	f.StringVar(&role, "role", store.RoleMember, "admin or member")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) usersListCmd(with usersRunner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, b usersBackend, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			us, err := b.list(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, us)
			}
			t := newTable(e.stdout, "USERNAME", "DISPLAY NAME", "ROLE", "STATUS", "ID", "CREATED")
			for _, u := range us {
				st := "active"
				if u.Disabled {
					st = "disabled"
				}
				t.row(u.Username, u.DisplayName, u.Role, st, u.ID, fmtTime(&u.CreatedAt))
			}
			return t.flush()
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) usersShowCmd(with usersRunner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show USERNAME",
		Short: "Show a user",
		Args:  exactArgs(1, "USERNAME"),
		RunE: with(func(ctx context.Context, b usersBackend, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			u, err := b.byUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, u)
			}
			st := "active"
			if u.Disabled {
				st = "disabled"
			}
			w := e.stdout
			fmt.Fprintf(w, "username:      %s\n", u.Username)
			fmt.Fprintf(w, "display name:  %s\n", u.DisplayName)
			fmt.Fprintf(w, "role:          %s\n", u.Role)
			fmt.Fprintf(w, "status:        %s\n", st)
			fmt.Fprintf(w, "ID:            %s\n", u.ID)
			fmt.Fprintf(w, "created:       %s\n", fmtTime(&u.CreatedAt))
			fmt.Fprintf(w, "updated:       %s\n", fmtTime(&u.UpdatedAt))
			return nil
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) usersDeleteCmd(with usersRunner) *cobra.Command {
	return &cobra.Command{
		Use:   "delete USERNAME",
		Short: "Delete a user, with their sessions, consents and refresh tokens",
		Long: `Delete a user. Their console sessions end, and their consents and refresh
tokens are deleted with them. The last enabled administrator cannot be
deleted: create or enable another admin first.`,
		Args: exactArgs(1, "USERNAME"),
		RunE: with(func(ctx context.Context, b usersBackend, args []string) error {
			u, err := b.byUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if err := b.delete(ctx, u.ID); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Deleted %s %s (ID %s)\n", u.Role, u.Username, u.ID)
			return nil
		}),
	}
}

func (e *env) usersSetPasswordCmd(with usersRunner) *cobra.Command {
	return &cobra.Command{
		Use:   "set-password USERNAME",
		Short: "Set a user's password (ends all of their sessions)",
		Long:  "Set a user's password. All of the user's console sessions end.\n\n" + passwordHelp,
		Args:  exactArgs(1, "USERNAME"),
		RunE: with(func(ctx context.Context, b usersBackend, args []string) error {
			u, err := b.byUsername(ctx, args[0])
			if err != nil {
				return err
			}
			pw, err := e.readPassword()
			if err != nil {
				return err
			}
			if err := b.setPassword(ctx, u.ID, pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Password of %s set; their sessions have ended\n", u.Username)
			return nil
		}),
	}
}

func (e *env) usersSetDisabledCmd(with usersRunner, disable bool) *cobra.Command {
	use, short, long := "enable USERNAME", "Enable a disabled user", ""
	if disable {
		use, short = "disable USERNAME", "Disable a user: they cannot log in, and their sessions end"
		long = `Disable a user: they cannot log in, and their console sessions end. The
last enabled administrator cannot be disabled: create or enable another
admin first.`
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  exactArgs(1, "USERNAME"),
		RunE: with(func(ctx context.Context, b usersBackend, args []string) error {
			u, err := b.byUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if err := b.setDisabled(ctx, u.ID, disable); err != nil {
				return err
			}
			if disable {
				fmt.Fprintf(e.stdout, "Disabled %s; their sessions have ended\n", u.Username)
			} else {
				fmt.Fprintf(e.stdout, "Enabled %s\n", u.Username)
			}
			return nil
		}),
	}
}

// readPassword prompts twice without echo on a terminal, and otherwise
// reads the first line of standard input.
func (e *env) readPassword() (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(e.stderr, "Password again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("the two passwords differ")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(e.stdin, 8192)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("no password on standard input; pipe it in, e.g. printf '%%s\\n' \"$PASSWORD\" | gatehouse users ...")
	}
	return pw, nil
}

// localUsers runs the users commands through the user service.
type localUsers struct {
	svc   *users.Service
	actor string
}

func (l localUsers) create(ctx context.Context, nu admin.NewUser) (admin.User, error) {
	u, err := l.svc.Create(ctx, l.actor, users.Spec{Username: nu.Username, DisplayName: nu.DisplayName, Password: nu.Password, Role: nu.Role})
	if err != nil {
		return admin.User{}, err
	}
	return adminapi.User(u), nil
}

func (l localUsers) list(ctx context.Context) ([]admin.User, error) {
	us, err := l.svc.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.User, 0, len(us))
	for _, u := range us {
		out = append(out, adminapi.User(u))
	}
	return out, nil
}

func (l localUsers) byUsername(ctx context.Context, username string) (admin.User, error) {
	u, err := l.svc.GetByUsername(ctx, username)
	if err != nil {
		return admin.User{}, err
	}
	return adminapi.User(u), nil
}

func (l localUsers) delete(ctx context.Context, id string) error {
	_, err := l.svc.Delete(ctx, l.actor, id)
	return err
}

func (l localUsers) setPassword(ctx context.Context, id, password string) error {
	return l.svc.SetPassword(ctx, l.actor, id, password)
}

func (l localUsers) setDisabled(ctx context.Context, id string, disabled bool) (err error) {
	if disabled {
		_, err = l.svc.Disable(ctx, l.actor, id)
	} else {
		_, err = l.svc.Enable(ctx, l.actor, id)
	}
	return err
}

// remoteUsers runs the users commands through the admin API.
type remoteUsers struct{ api *admin.API }

func (r remoteUsers) create(ctx context.Context, nu admin.NewUser) (admin.User, error) {
	return r.api.CreateUser(ctx, nu)
}

func (r remoteUsers) list(ctx context.Context) ([]admin.User, error) {
	out := []admin.User{}
	for u, err := range r.api.AllUsers(ctx, admin.UserFilter{Limit: 200}) {
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// byUsername finds the user among those whose name contains username:
// usernames are unique regardless of case.
func (r remoteUsers) byUsername(ctx context.Context, username string) (admin.User, error) {
	for u, err := range r.api.AllUsers(ctx, admin.UserFilter{Q: username, Limit: 200}) {
		if err != nil {
			return admin.User{}, err
		}
		if strings.EqualFold(u.Username, username) {
			return u, nil
		}
	}
	return admin.User{}, fmt.Errorf("user %q: not found", username)
}

func (r remoteUsers) delete(ctx context.Context, id string) error { return r.api.DeleteUser(ctx, id) }

func (r remoteUsers) setPassword(ctx context.Context, id, password string) error {
	_, _, err := r.api.UpdateUser(ctx, id, admin.UserPatch{Password: &password})
	return err
}

func (r remoteUsers) setDisabled(ctx context.Context, id string, disabled bool) error {
	_, _, err := r.api.UpdateUser(ctx, id, admin.UserPatch{Disabled: &disabled})
	return err
}
