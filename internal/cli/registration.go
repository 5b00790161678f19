package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// registrationBackend runs the registration token commands: on the store
// (local), or through the admin API (--server).
type registrationBackend interface {
	create(ctx context.Context, uses int, ttl time.Duration, description string) (admin.InitialAccessToken, error)
	list(ctx context.Context) ([]admin.InitialAccessToken, error)
	revoke(ctx context.Context, id string) error
}

func (e *env) registrationCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "registration", Short: "Dynamic client registration (RFC 7591): initial access tokens"}
	sf := &serverFlag{}
	sf.register(cmd, true)
	tokens := &cobra.Command{Use: "token", Short: "Create, list and revoke initial access tokens, which let their holder register clients"}
	with := func(run func(ctx context.Context, b registrationBackend) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			return onBackend(e, cmd, df, sf, nil,
				func(rc *remoteConn) (registrationBackend, error) { return remoteRegistration{rc}, nil },
				onApp(e, func(d *app.Deps, cfg config.Config) (registrationBackend, error) {
					svc, err := app.RegistrationService(d.Store, d.Catalog, app.ClientService(d.Store, d.Catalog, cfg), cfg)
					if err != nil {
						return nil, err
					}
					return localRegistration{svc: svc, actor: e.actor()}, nil
				}),
				func(ctx context.Context, b registrationBackend) error {
					if err := run(ctx, b); err != nil {
						return err
					}
					if local, ok := b.(localRegistration); ok && local.svc.Policy() != registration.InitialAccessToken {
						fmt.Fprintf(e.stderr, "note: registration.policy is %s here; the server accepts initial access tokens only with registration.policy: initial_access_token\n", local.svc.Policy())
					}
					return nil
				})
		}
	}

	var (
		uses        int
		expires     string
		description string
		output      string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an initial access token; it is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ttl, err := duration.Parse(expires)
			if err != nil || ttl <= 0 {
				return usagef("--expires %q: use a positive duration such as 24h or 7d", expires)
			}
			return with(func(ctx context.Context, b registrationBackend) error {
				t, err := b.create(ctx, uses, ttl, description)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSONOut(e.stdout, t)
				}
				fmt.Fprintf(e.stdout, "%s\n", t.Token)
				fmt.Fprintf(e.stderr, "Created initial access token %s for %s, expiring %s.\n"+
					"Store it now: it is not saved and cannot be shown again. Clients send it as\n"+
					"Authorization: Bearer TOKEN to POST /oauth/register.\n",
					t.ID, usesText(t.MaxUses), t.ExpiresAt.Local().Format(time.RFC3339))
				return nil
			})(cmd, args)
		},
	}
	create.Flags().IntVar(&uses, "uses", 1, "how many clients it may register")
	create.Flags().StringVar(&expires, "expires", "24h", "how long it is valid, e.g. 24h or 7d")
	create.Flags().StringVar(&description, "description", "", "what it is for (shown in the list and the audit trail)")
	create.Flags().StringVarP(&output, "output", "o", "table", "output format: table (the token alone on stdout) or json")

	var listOutput string
	list := &cobra.Command{
		Use:   "list",
		Short: "List initial access tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(listOutput); err != nil {
				return err
			}
			return with(func(ctx context.Context, b registrationBackend) error {
				ts, err := b.list(ctx)
				if err != nil {
					return err
				}
				if listOutput == "json" {
					return writeJSONOut(e.stdout, ts)
				}
				tb := newTable(e.stdout, "ID", "USES", "EXPIRES", "DESCRIPTION")
				for _, t := range ts {
					tb.row(t.ID, strconv.Itoa(t.Uses)+"/"+strconv.Itoa(t.MaxUses), t.ExpiresAt.Local().Format(time.RFC3339), orDash(t.Description))
				}
				return tb.flush()
			})(cmd, args)
		},
	}
	list.Flags().StringVarP(&listOutput, "output", "o", "table", "output format: table or json")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an initial access token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(func(ctx context.Context, b registrationBackend) error {
				if err := b.revoke(ctx, args[0]); err != nil {
					var p *admin.Problem
					if errors.Is(err, store.ErrNotFound) || errors.As(err, &p) && p.Type == admin.ProblemNotFound {
						return fmt.Errorf("no initial access token %q; see gatehouse registration token list", args[0])
					}
					return err
				}
				fmt.Fprintf(e.stdout, "revoked initial access token %s\n", args[0])
				return nil
			})(cmd, args)
		},
	}
	tokens.AddCommand(create, list, revoke)
	cmd.AddCommand(tokens)
	return cmd
}

type localRegistration struct {
	svc   *registration.Service
	actor string
}

func (l localRegistration) create(ctx context.Context, uses int, ttl time.Duration, description string) (admin.InitialAccessToken, error) {
	t, plain, err := l.svc.CreateToken(ctx, l.actor, uses, ttl, description)
	if err != nil {
		return admin.InitialAccessToken{}, err
	}
	return adminapi.InitialAccessToken(t, plain), nil
}

func (l localRegistration) list(ctx context.Context) ([]admin.InitialAccessToken, error) {
	ts, err := l.svc.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := []admin.InitialAccessToken{}
	for _, t := range ts {
		out = append(out, adminapi.InitialAccessToken(t, ""))
	}
	return out, nil
}

func (l localRegistration) revoke(ctx context.Context, id string) error {
	return l.svc.RevokeToken(ctx, l.actor, id)
}

type remoteRegistration struct{ *remoteConn }

func (r remoteRegistration) create(ctx context.Context, uses int, ttl time.Duration, description string) (admin.InitialAccessToken, error) {
	return r.api.CreateInitialAccessToken(ctx, admin.NewInitialAccessToken{MaxUses: uses,
		ExpiresInSeconds: int64((ttl + time.Second - 1) / time.Second), Description: description})
}

func (r remoteRegistration) list(ctx context.Context) ([]admin.InitialAccessToken, error) {
	ts, err := r.api.ListInitialAccessTokens(ctx)
	if ts == nil {
		ts = []admin.InitialAccessToken{}
	}
	return ts, err
}

func (r remoteRegistration) revoke(ctx context.Context, id string) error {
	return r.api.RevokeInitialAccessToken(ctx, id)
}

func usesText(n int) string {
	if n == 1 {
		return "1 registration"
	}
	return strconv.Itoa(n) + " registrations"
}
