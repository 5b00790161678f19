package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
)

// clientData opens what client commands need: the store and the catalog.
type clientData struct {
	st  store.Store
	svc *clients.Service
}

func (e *env) openClients(cmd *cobra.Command, df *dataFlags, catalogFile string) (*clientData, error) {
	cfg, err := e.loadConfig(cmd, df, func(c *config.Config) {
		if catalogFile != "" {
			c.ScopesFile = catalogFile
		}
	})
	if err != nil {
		return nil, err
	}
	catalog, err := app.LoadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	st, err := backend.Open(cmd.Context(), cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &clientData{st: st, svc: app.ClientService(st, catalog, cfg)}, nil
}

func (e *env) clientsCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Create, list, change and delete OAuth clients",
	}
	var catalogFile string
	cmd.PersistentFlags().StringVar(&catalogFile, "catalog", "", "scope catalog file to check scopes against (default: the configured one)")
	with := func(run func(ctx context.Context, cd *clientData, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			cd, err := e.openClients(cmd, df, catalogFile)
			if err != nil {
				return err
			}
			defer cd.st.Close()
			return run(cmd.Context(), cd, cmd, args)
		}
	}
	cmd.AddCommand(
		e.clientsCreateCmd(with),
		e.clientsListCmd(with),
		e.clientsShowCmd(with),
		e.clientsUpdateCmd(with),
		e.clientsDeleteCmd(with),
		e.clientsRotateCmd(with),
		e.clientsRevokeSecretCmd(with),
		e.clientsRevokeTokensCmd(with),
	)
	return cmd
}

type runner = func(run func(ctx context.Context, cd *clientData, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error

// clientFlags are the editable client fields shared by create and update.
type clientFlags struct {
	name, description, audience         string
	scopes, accounts, grants, redirects string
	ttl, website                        string
	refreshWithCC, requirePKCE          bool
}

func (cf *clientFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&cf.name, "name", "", "display name")
	f.StringVar(&cf.description, "description", "", "description")
	f.StringVar(&cf.scopes, "scopes", "", `allowed scopes, space- or comma-separated, e.g. "api:read-only search" (create's default: the catalog's default scopes)`)
	f.StringVar(&cf.accounts, "accounts", "", `accounts tokens may be restricted to (account:<id> scope), comma-separated, or "*" for any`)
	f.StringVar(&cf.grants, "grant-types", "", "allowed grant types, comma-separated (default client_credentials)")
	f.StringVar(&cf.redirects, "redirect-uris", "", "redirect URIs, comma-separated")
	f.StringVar(&cf.audience, "audience", "", `token "aud" (default: the server's audience)`)
	f.StringVar(&cf.ttl, "token-ttl", "", "access-token lifetime, e.g. 1h, 12h, 14d (default: the server's, 1h)")
	f.StringVar(&cf.website, "website", "", "the app's website, shown on the consent page")
	f.BoolVar(&cf.refreshWithCC, "refresh-with-client-credentials", false, "also issue refresh tokens with client_credentials (needs the refresh_token grant)")
	f.BoolVar(&cf.requirePKCE, "require-pkce", true, "require PKCE at the authorization endpoint; --require-pkce=false lets a legacy confidential client leave it out (never a public one)")
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func parseTTL(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	if err != nil {
		return 0, usagef("--token-ttl: %v", err)
	}
	return d, nil
}

func (e *env) clientsCreateCmd(with runner) *cobra.Command {
	var cf clientFlags
	var id, output, authMethod string
	var secretStdin bool
	cmd := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Register a client and print its secret (shown only once)",
		Example: `  # A client for machine-to-machine calls, with a generated secret:
  gatehouse clients create --name "Billing sync" --scopes "api:read-only search" --token-ttl 12h

  # Choose the client ID, and supply the secret (at least 32 characters):
  printf %s "$SECRET" | gatehouse clients create --name "Billing sync" --id billing-sync --secret-stdin

  # Tokens restricted to one account (scope account:acme):
  gatehouse clients create --name "Acme reports" --scopes api:read-only --accounts acme

  # A web app with a back end (authorization code; it also gets a secret):
  gatehouse clients create --name "Reports web" --grant-types authorization_code,refresh_token \
      --redirect-uris https://reports.example.com/callback --scopes "profile search"

  # A native or single-page app (public: no secret, PKCE required):
  gatehouse clients create --name "Mobile" --token-endpoint-auth-method none \
      --grant-types authorization_code,refresh_token --redirect-uris http://127.0.0.1/callback

  # JSON, for scripts (client_id, client_secret, name, scopes, token_ttl_seconds, ...):
  gatehouse clients create --name "CI" --output json`,
		Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, cd *clientData, cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if !cmd.Flags().Changed("name") {
				return usagef("--name is required, e.g. gatehouse clients create --name \"Billing sync\"")
			}
			sp := clients.Spec{
				ID: id, Name: cf.name, Description: cf.description, Audience: cf.audience,
				Accounts: splitList(cf.accounts), RedirectURIs: splitList(cf.redirects),
				Website: cf.website, TokenEndpointAuthMethod: authMethod, RefreshWithClientCredentials: cf.refreshWithCC,
				PKCEOptional: !cf.requirePKCE,
			}
			if cmd.Flags().Changed("grant-types") {
				sp.GrantTypes = splitList(cf.grants)
			}
			if cmd.Flags().Changed("scopes") { // else the catalog's default scopes
				sp.Scopes = nonNil(splitList(cf.scopes))
			}
			if cf.ttl != "" {
				d, err := parseTTL(cf.ttl)
				if err != nil {
					return err
				}
				sp.TokenTTL = d
			}
			if secretStdin {
				s, err := readSecret(e.stdin)
				if err != nil {
					return err
				}
				sp.Secret = s
			}
			c, plain, err := cd.svc.Create(ctx, e.actor(), sp)
			if err != nil {
				return err
			}
			e.warn(cd.svc.Warnings(c))
			if c.TokenEndpointAuthMethod == store.AuthMethodNone {
				return e.printCreatedPublic(output, c)
			}
			return e.printCreated(output, c, plain)
		}),
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "client ID to use (3-64 of A-Z a-z 0-9 . _ -; default: generated)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the client secret from standard input instead of generating one (at least 32 characters)")
	f.StringVar(&authMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post, or none: a public client (no secret, PKCE required)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// warn prints warnings on standard error, one a line.
func (e *env) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "gatehouse: warning: "+w)
	}
}

// printCreatedPublic reports a new public client, which has no secret.
func (e *env) printCreatedPublic(output string, c store.Client) error {
	if output == "json" {
		return writeJSONOut(e.stdout, toClientJSON(c))
	}
	w := e.stdout
	fmt.Fprintf(w, "Created public client %q (no secret; PKCE required).\n\n", c.Name)
	fmt.Fprintf(w, "  client_id:      %s\n", c.ID)
	fmt.Fprintf(w, "  scopes:         %s\n", orDash(strings.Join(c.Scopes, " ")))
	fmt.Fprintf(w, "  redirect URIs:  %s\n", orDash(strings.Join(c.RedirectURIs, " ")))
	fmt.Fprintf(w, "  token lifetime: %s\n", ttlText(c.TokenTTL))
	return nil
}

func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read secret from standard input: %w", err)
	}
	s := strings.TrimRight(line, "\r\n")
	if s == "" {
		return "", usagef("--secret-stdin: standard input is empty; pipe the secret in, e.g. printf %%s \"$SECRET\" | gatehouse clients create ...")
	}
	return s, nil
}

func (e *env) clientsListCmd(with runner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  cobra.NoArgs,
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cs, err := cd.svc.List(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				out := make([]clientJSON, 0, len(cs))
				for _, c := range cs {
					out = append(out, toClientJSON(c))
				}
				return writeJSONOut(e.stdout, out)
			}
			t := newTable(e.stdout, "CLIENT ID", "NAME", "GRANT TYPES", "SCOPES", "TOKEN TTL", "STATUS", "LAST USED")
			for _, c := range cs {
				t.row(c.ID, c.Name, strings.Join(c.GrantTypes, ","), orDash(strings.Join(c.Scopes, " ")),
					ttlText(c.TokenTTL), status(c), when(c.LastUsed()))
			}
			return t.flush()
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) clientsShowCmd(with runner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show CLIENT_ID",
		Short: "Show one client and its secrets' metadata (never the secrets)",
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := cd.svc.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return e.printClient(output, c)
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) clientsUpdateCmd(with runner) *cobra.Command {
	var cf clientFlags
	var output, authMethod string
	var disable, enable bool
	cmd := &cobra.Command{
		Use:   "update CLIENT_ID [flags]",
		Short: "Change a client's settings (only the flags given change)",
		Long: `Change a client's settings; only the flags given change.

--token-endpoint-auth-method switches how the client authenticates:
  client_secret_basic <-> client_secret_post  the secrets stay as they are
  to none (a public client)   deletes every secret; the client must not keep
                              the client_credentials grant (change
                              --grant-types in the same command)
  from none to a secret one   generates a secret and prints it, once`,
		Args: exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			fl := cmd.Flags()
			var p clients.Patch
			str := func(name string, v string) *string {
				if fl.Changed(name) {
					return &v
				}
				return nil
			}
			lst := func(name string, v string) *[]string {
				if fl.Changed(name) {
					l := splitList(v)
					return &l
				}
				return nil
			}
			p.Name, p.Description, p.Audience = str("name", cf.name), str("description", cf.description), str("audience", cf.audience)
			p.Website = str("website", cf.website)
			if fl.Changed("refresh-with-client-credentials") {
				p.RefreshWithClientCredentials = &cf.refreshWithCC
			}
			if fl.Changed("require-pkce") {
				optional := !cf.requirePKCE
				p.PKCEOptional = &optional
			}
			p.Scopes, p.Accounts = lst("scopes", cf.scopes), lst("accounts", cf.accounts)
			p.GrantTypes, p.RedirectURIs = lst("grant-types", cf.grants), lst("redirect-uris", cf.redirects)
			if fl.Changed("token-ttl") {
				d, err := parseTTL(cf.ttl)
				if err != nil {
					return err
				}
				p.TokenTTL = &d
			}
			if disable && enable {
				return usagef("--disable and --enable contradict each other")
			}
			if disable || enable {
				p.Disabled = &disable
			}
			p.TokenEndpointAuthMethod = str("token-endpoint-auth-method", authMethod)
			if p == (clients.Patch{}) {
				return usagef("nothing to change: give at least one of --name, --scopes, --accounts, --token-ttl, --disable, ...")
			}
			c, plain, err := cd.svc.UpdateIssuingSecret(ctx, e.actor(), args[0], p)
			if err != nil {
				return err
			}
			e.warn(cd.svc.Warnings(c))
			if plain != "" {
				return e.printIssued(output, c, plain)
			}
			return e.printClient(output, c)
		}),
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&disable, "disable", false, "disable the client: its secrets stop working")
	f.BoolVar(&enable, "enable", false, "enable a disabled client")
	f.StringVar(&authMethod, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, or none (see above)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) clientsDeleteCmd(with runner) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client; its secrets stop working at once",
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, args []string) error {
			if err := cd.svc.Delete(ctx, e.actor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted client %s\n", args[0])
			return nil
		}),
	}
}

func (e *env) clientsRotateCmd(with runner) *cobra.Command {
	var grace, output string
	var secretStdin bool
	cmd := &cobra.Command{
		Use:   "rotate-secret CLIENT_ID",
		Short: "Issue a new secret; the old ones keep working for the grace period",
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			g, err := duration.Parse(grace)
			if err != nil {
				return usagef("--grace: %v", err)
			}
			var supplied string
			if secretStdin {
				if supplied, err = readSecret(e.stdin); err != nil {
					return err
				}
			}
			c, plain, err := cd.svc.RotateSecret(ctx, e.actor(), args[0], g, supplied)
			if err != nil {
				return err
			}
			return e.printRotated(output, c, plain, g)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&grace, "grace", "24h", "how long the old secrets keep working (0 = stop at once)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the new secret from standard input (at least 32 characters)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) clientsRevokeSecretCmd(with runner) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-secret CLIENT_ID SECRET_ID",
		Short: "Revoke one of a client's secrets at once (IDs from 'clients show')",
		Args:  exactArgs(2, "CLIENT_ID SECRET_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, args []string) error {
			if _, err := cd.svc.RevokeSecret(ctx, e.actor(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked secret %s of client %s\n", args[1], args[0])
			return nil
		}),
	}
}

func (e *env) clientsRevokeTokensCmd(with runner) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "revoke-tokens CLIENT_ID",
		Short: "Revoke every token issued to a client until now (access and refresh tokens)",
		Long: `Revoke every token issued to a client until now, e.g. when its secret leaked.

Access tokens issued until now (every one whose iat is in this second or
earlier) introspect as inactive at once, and the gatehouse gateway and the
resource middleware refuse them within their poll of the revocation feed
(5s by default). Every refresh token of the client is revoked. Tokens issued
from the next second on work.

It does not stop the client from getting new tokens. After a leak, first
rotate the secret away, wait until every node has seen that
(cache.max_staleness, 5s by default), then revoke the tokens:

  gatehouse clients rotate-secret CLIENT_ID --grace 0
  sleep 5
  gatehouse clients revoke-tokens CLIENT_ID

The revocation is kept until the last token it covers expires, by the
configured token.max_ttl: run it with the server's configuration (--config
or GATEHOUSE_CONFIG).`,
		Args: exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, cd *clientData, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			at, err := cd.svc.RevokeTokens(ctx, e.actor(), args[0])
			if err != nil {
				return err
			}
			return e.printRevokedTokens(output, args[0], at)
		}),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}
