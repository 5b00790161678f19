package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/users"
)

func (e *env) usersCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create, list, show, disable, enable and delete users, and set their passwords",
	}
	with := func(run func(ctx context.Context, svc *users.Service, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			cfg, err := e.loadConfig(cmd, df, nil)
			if err != nil {
				return err
			}
			st, err := backend.Open(cmd.Context(), cfg.Database, cfg.DataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			return run(cmd.Context(), app.UserService(st, cfg), args)
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

type usersRunner = func(run func(ctx context.Context, svc *users.Service, args []string) error) func(*cobra.Command, []string) error

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
		RunE: with(func(ctx context.Context, svc *users.Service, _ []string) error {
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
			u, err := svc.Create(ctx, e.actor(), users.Spec{Username: username, DisplayName: displayName, Password: pw, Role: role})
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, toUserJSON(u))
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

type userJSON struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

func (e *env) usersListCmd(with usersRunner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, svc *users.Service, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			us, err := svc.List(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				out := make([]userJSON, 0, len(us))
				for _, u := range us {
					out = append(out, toUserJSON(u))
				}
				return writeJSONOut(e.stdout, out)
			}
			t := newTable(e.stdout, "USERNAME", "DISPLAY NAME", "ROLE", "STATUS", "ID", "CREATED")
			for _, u := range us {
				st := "active"
				if u.Disabled {
					st = "disabled"
				}
				t.row(u.Username, u.DisplayName, u.Role, st, u.ID, fmtTime(u.CreatedAt))
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
		RunE: with(func(ctx context.Context, svc *users.Service, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			u, err := svc.GetByUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(e.stdout, toUserJSON(u))
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
			fmt.Fprintf(w, "created:       %s\n", fmtTime(u.CreatedAt))
			fmt.Fprintf(w, "updated:       %s\n", fmtTime(u.UpdatedAt))
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
		RunE: with(func(ctx context.Context, svc *users.Service, args []string) error {
			u, err := svc.GetByUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if _, err := svc.Delete(ctx, e.actor(), u.ID); err != nil {
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
		RunE: with(func(ctx context.Context, svc *users.Service, args []string) error {
			u, err := svc.GetByUsername(ctx, args[0])
			if err != nil {
				return err
			}
			pw, err := e.readPassword()
			if err != nil {
				return err
			}
			if err := svc.SetPassword(ctx, e.actor(), u.ID, pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Password of %s set; their sessions have ended\n", u.Username)
			return nil
		}),
	}
}

func (e *env) usersSetDisabledCmd(with usersRunner, disable bool) *cobra.Command {
	use, short := "enable USERNAME", "Enable a disabled user"
	if disable {
		use, short = "disable USERNAME", "Disable a user: they cannot log in, and their sessions end"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1, "USERNAME"),
		RunE: with(func(ctx context.Context, svc *users.Service, args []string) error {
			u, err := svc.GetByUsername(ctx, args[0])
			if err != nil {
				return err
			}
			if disable {
				_, err = svc.Disable(ctx, e.actor(), u.ID)
			} else {
				_, err = svc.Enable(ctx, e.actor(), u.ID)
			}
			if err != nil {
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
