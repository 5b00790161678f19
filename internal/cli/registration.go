package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/store"
)

// initialToken is an initial access token as the registration commands
// print it; Token only when it was just created.
type initialToken struct {
	ID          string    `json:"id"`
	Token       string    `json:"token,omitempty"`
	Description string    `json:"description,omitempty"`
	MaxUses     int       `json:"max_uses"`
	Uses        int       `json:"uses"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func initialTokenOut(t store.InitialAccessToken, plain string) initialToken {
	return initialToken{ID: t.ID, Token: plain, Description: t.Description, MaxUses: t.MaxUses, Uses: t.Uses,
		CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC()}
}

func (e *env) registrationCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "registration", Short: "Dynamic client registration (RFC 7591): initial access tokens"}
	tokens := &cobra.Command{Use: "token", Short: "Create, list and revoke initial access tokens, which let their holder register clients"}
	with := func(run func(ctx context.Context, svc *registration.Service) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd, df, nil)
			if err != nil {
				return err
			}
			d, err := app.Open(cmd.Context(), cfg, app.Logger(cfg, e.stderr))
			if err != nil {
				return err
			}
			defer d.Store.Close()
			svc, err := app.RegistrationService(d.Store, d.Catalog, app.ClientService(d.Store, d.Catalog, cfg), cfg)
			if err != nil {
				return err
			}
			if err := run(cmd.Context(), svc); err != nil {
				return err
			}
			if svc.Policy() != registration.InitialAccessToken {
				fmt.Fprintf(e.stderr, "note: registration.policy is %s; initial access tokens are accepted only with policy initial_access_token\n", svc.Policy())
			}
			return nil
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
			return with(func(ctx context.Context, svc *registration.Service) error {
				t, plain, err := svc.CreateToken(ctx, e.actor(), uses, ttl, description)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSONOut(e.stdout, initialTokenOut(t, plain))
				}
				fmt.Fprintf(e.stdout, "%s\n", plain)
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
			return with(func(ctx context.Context, svc *registration.Service) error {
				ts, err := svc.ListTokens(ctx)
				if err != nil {
					return err
				}
				out := []initialToken{}
				for _, t := range ts {
					out = append(out, initialTokenOut(t, ""))
				}
				if listOutput == "json" {
					return writeJSONOut(e.stdout, out)
				}
				tb := newTable(e.stdout, "ID", "USES", "EXPIRES", "DESCRIPTION")
				for _, t := range out {
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
			return with(func(ctx context.Context, svc *registration.Service) error {
				if err := svc.RevokeToken(ctx, e.actor(), args[0]); err != nil {
					if errors.Is(err, store.ErrNotFound) {
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

func usesText(n int) string {
	if n == 1 {
		return "1 registration"
	}
	return strconv.Itoa(n) + " registrations"
}
