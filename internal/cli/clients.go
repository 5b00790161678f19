package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/duration"
	"github.com/gatehouse/gatehouse/internal/store/backend"
)

// clientsBackend runs the clients commands: on the store, through the
// client service (local), or through the admin API (--server).
type clientsBackend interface {
	isRemote() bool
	// create registers a client; secret is a supplied secret ("": one is
	// generated). It returns the client with its secret and warnings.
	create(ctx context.Context, nc admin.NewClient, secret string) (admin.Client, []string, error)
	list(ctx context.Context) ([]admin.Client, error)
	get(ctx context.Context, id string) (admin.Client, error)
	// update returns the client, with a secret if the change issued one.
	update(ctx context.Context, id string, p admin.ClientPatch) (admin.Client, []string, error)
	delete(ctx context.Context, id string) error
	rotateSecret(ctx context.Context, id string, grace time.Duration, secret string) (admin.Rotation, error)
	revokeSecret(ctx context.Context, id, secretID string) error
	revokeTokens(ctx context.Context, id string) (admin.TokenRevocation, error)
}

// onClients runs a clients command's run on its backend (see onBackend).
func (e *env) onClients(cmd *cobra.Command, df *dataFlags, sf *serverFlag, catalogFile string, run func(context.Context, clientsBackend) error) error {
	return onBackend(e, cmd, df, sf,
		func(c *config.Config) {
			if catalogFile != "" {
				c.ScopesFile = catalogFile
			}
		},
		func(rc *remoteConn) (clientsBackend, error) {
			if catalogFile != "" {
				return nil, localOnly("--catalog", "with --server the server checks scopes against its own catalog")
			}
			return remoteClients{rc.api}, nil
		},
		func(ctx context.Context, cfg config.Config) (clientsBackend, func(), error) {
			api, err := app.LoadAPI(cfg)
			if err != nil {
				return nil, nil, err
			}
			st, err := backend.Open(ctx, cfg.Database, cfg.DataDir)
			if err != nil {
				return nil, nil, err
			}
			svc := app.ClientService(st, api.Catalog, cfg).WithResources(app.ClientResources(api.Resources))
			return localClients{st: st, svc: svc, actor: e.actor()}, func() { st.Close() }, nil
		}, run)
}

func (e *env) clientsCmd(df *dataFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clients",
		Short: "Create, list, change and delete OAuth clients",
	}
	var catalogFile string
	sf := &serverFlag{}
	cmd.PersistentFlags().StringVar(&catalogFile, "catalog", "", "scope catalog file to check scopes against (default: the configured one)")
	sf.register(cmd, true)
	with := func(run func(ctx context.Context, b clientsBackend, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return e.onClients(cmd, df, sf, catalogFile, func(ctx context.Context, b clientsBackend) error {
				return run(ctx, b, cmd, args)
			})
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

type runner = func(run func(ctx context.Context, b clientsBackend, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error

// clientFlags are the editable client fields shared by create and update.
type clientFlags struct {
	name, description, audience         string
	scopes, accounts, grants, redirects string
	ttl, website                        string
	refreshWithCC, requirePKCE          bool
	dpopRequired                        bool
	quotaMinute, quotaHour, reuse       int // 0: the server's default
	jwksFile, jwksURI                   string
	resources                           []string // --resource, repeatable
}

// jwks reads --jwks-file: a JSON Web Key Set document of public keys, which
// the client service validates.
func (cf *clientFlags) jwks() (json.RawMessage, error) {
	if cf.jwksFile == "" {
		return nil, nil
	}
	f, err := os.Open(cf.jwksFile)
	if err != nil {
		return nil, usagef("--jwks-file: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, clients.MaxJWKSSize+1))
	switch {
	case err != nil:
		return nil, usagef("--jwks-file: %v", err)
	case len(b) > clients.MaxJWKSSize:
		return nil, usagef("--jwks-file: larger than %d KiB", clients.MaxJWKSSize>>10)
	case !json.Valid(b):
		return nil, usagef("--jwks-file: %s is not a JSON document (a JWKS: {\"keys\": [...]})", cf.jwksFile)
	}
	return json.RawMessage(b), nil
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
	f.StringVar(&cf.jwksFile, "jwks-file", "", "for private_key_jwt: a file with the client's public keys as a JSON Web Key Set (each key with a kid)")
	f.StringVar(&cf.jwksURI, "jwks-uri", "", "for private_key_jwt: the https URL of the client's JSON Web Key Set")
	f.BoolVar(&cf.dpopRequired, "dpop-required", false, "require a DPoP proof with every token request, so all the client's access tokens are bound to its key (RFC 9449)")
	f.IntVar(&cf.quotaMinute, "quota-per-minute", 0, "issue the client at most this many access tokens a minute (429 slow_down beyond); 0: the server's default (token.quota), -1: none")
	f.IntVar(&cf.quotaHour, "quota-per-hour", 0, "at most this many access tokens an hour; 0: the server's default, -1: none")
	f.IntVar(&cf.reuse, "reuse-min-remaining", 0, "token reuse window: hand out the same access token again for the same request while it has more than this percentage (1-99) of its lifetime left; 0: the server's default (token.reuse), -1: off")
	cmd.MarkFlagsMutuallyExclusive("jwks-file", "jwks-uri")
	f.StringArrayVar(&cf.resources, "resource", nil, "a resource (RFC 8707) of the configuration's resources: the client may get tokens for, besides the default one; repeat for several (update: replaces the list; --resource \"\" clears it)")
}

// nonEmpty drops the empty and blank values of a repeated flag.
func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// parseTTL reads --token-ttl as whole seconds, as the API takes it.
func parseTTL(s string) (int64, error) {
	d, err := duration.Parse(s)
	if err != nil {
		return 0, usagef("--token-ttl: %v", err)
	}
	if d%time.Second != 0 {
		return 0, usagef("--token-ttl %s: give whole seconds", s)
	}
	return int64(d / time.Second), nil
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
		RunE: with(func(ctx context.Context, b clientsBackend, cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if !cmd.Flags().Changed("name") {
				return usagef("--name is required, e.g. gatehouse clients create --name \"Billing sync\"")
			}
			if secretStdin && b.isRemote() {
				return localOnly("--secret-stdin", "the admin API generates every secret")
			}
			nc := admin.NewClient{
				ClientID: id, Name: cf.name, Description: cf.description, Audience: cf.audience,
				Accounts: splitList(cf.accounts), RedirectURIs: splitList(cf.redirects),
				Website: cf.website, TokenEndpointAuthMethod: authMethod, RefreshWithClientCredentials: cf.refreshWithCC,
				RequirePKCE: &cf.requirePKCE, JWKSURI: cf.jwksURI, DPoPBoundAccessTokens: cf.dpopRequired,
				TokenQuotaPerMinute: cf.quotaMinute, TokenQuotaPerHour: cf.quotaHour, TokenReuseMinRemaining: cf.reuse,
				Resources: nonEmpty(cf.resources),
			}
			jwks, err := cf.jwks()
			if err != nil {
				return err
			}
			nc.JWKS = jwks
			if cmd.Flags().Changed("grant-types") {
				nc.GrantTypes = splitList(cf.grants)
			}
			if cmd.Flags().Changed("scopes") { // else the catalog's default scopes
				nc.Scopes = nonNil(splitList(cf.scopes))
			}
			if cf.ttl != "" {
				ttl, err := parseTTL(cf.ttl)
				if err != nil {
					return err
				}
				nc.TokenTTLSeconds = ttl
			}
			var supplied string
			if secretStdin {
				s, err := readSecret(e.stdin)
				if err != nil {
					return err
				}
				supplied = s
			}
			c, warnings, err := b.create(ctx, nc, supplied)
			if err != nil {
				return err
			}
			e.warn(warnings)
			return e.printCreated(output, c)
		}),
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "client ID to use (3-64 of A-Z a-z 0-9 . _ -; default: generated)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the client secret from standard input instead of generating one (at least 32 characters)")
	f.StringVar(&authMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post, private_key_jwt (a signed JWT; give --jwks-file or --jwks-uri, no secret), or none: a public client (no secret, PKCE required)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// warn prints warnings on standard error, one a line.
func (e *env) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(e.stderr, "gatehouse: warning: "+w)
	}
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
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cs, err := b.list(ctx)
			if err != nil {
				return err
			}
			return e.printClients(output, cs)
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
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := b.get(ctx, args[0])
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
  to private_key_jwt          deletes every secret; give --jwks-file or
                              --jwks-uri in the same command
  from none or private_key_jwt to a secret one
                              generates a secret and prints it, once`,
		Args: exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, b clientsBackend, cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			fl := cmd.Flags()
			var p admin.ClientPatch
			str := func(name string, v string) *string {
				if fl.Changed(name) {
					return &v
				}
				return nil
			}
			lst := func(name string, v string) *[]string {
				if fl.Changed(name) {
					l := nonNil(splitList(v))
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
				p.RequirePKCE = &cf.requirePKCE
			}
			if fl.Changed("dpop-required") {
				p.DPoPBoundAccessTokens = &cf.dpopRequired
			}
			if fl.Changed("quota-per-minute") {
				p.TokenQuotaPerMinute = &cf.quotaMinute
			}
			if fl.Changed("quota-per-hour") {
				p.TokenQuotaPerHour = &cf.quotaHour
			}
			if fl.Changed("reuse-min-remaining") {
				p.TokenReuseMinRemaining = &cf.reuse
			}
			p.Scopes, p.Accounts = lst("scopes", cf.scopes), lst("accounts", cf.accounts)
			p.GrantTypes, p.RedirectURIs = lst("grant-types", cf.grants), lst("redirect-uris", cf.redirects)
			if fl.Changed("resource") {
				rs := nonNil(nonEmpty(cf.resources))
				p.Resources = &rs
			}
			if fl.Changed("token-ttl") {
				ttl, err := parseTTL(cf.ttl)
				if err != nil {
					return err
				}
				p.TokenTTLSeconds = &ttl
			}
			if disable && enable {
				return usagef("--disable and --enable contradict each other")
			}
			if disable || enable {
				p.Disabled = &disable
			}
			p.TokenEndpointAuthMethod = str("token-endpoint-auth-method", authMethod)
			p.JWKSURI = str("jwks-uri", cf.jwksURI)
			jwks, err := cf.jwks()
			if err != nil {
				return err
			}
			p.JWKS = jwks
			if reflect.ValueOf(p).IsZero() {
				return usagef("nothing to change: give at least one of --name, --scopes, --accounts, --token-ttl, --disable, ...")
			}
			c, warnings, err := b.update(ctx, args[0], p)
			if err != nil {
				return err
			}
			e.warn(warnings)
			if c.ClientSecret != "" {
				return e.printIssued(output, c)
			}
			return e.printClient(output, c)
		}),
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&disable, "disable", false, "disable the client: its secrets stop working")
	f.BoolVar(&enable, "enable", false, "enable a disabled client")
	f.StringVar(&authMethod, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt, or none (see above)")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func (e *env) clientsDeleteCmd(with runner) *cobra.Command {
	return &cobra.Command{
		Use:   "delete CLIENT_ID",
		Short: "Delete a client; its secrets stop working at once",
		Args:  exactArgs(1, "CLIENT_ID"),
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, args []string) error {
			if err := b.delete(ctx, args[0]); err != nil {
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
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			g, err := duration.Parse(grace)
			if err != nil {
				return usagef("--grace: %v", err)
			}
			if g < 0 {
				return usagef("--grace %s: must not be negative", grace)
			}
			if secretStdin && b.isRemote() {
				return localOnly("--secret-stdin", "the admin API generates every secret")
			}
			var supplied string
			if secretStdin {
				if supplied, err = readSecret(e.stdin); err != nil {
					return err
				}
			}
			r, err := b.rotateSecret(ctx, args[0], g, supplied)
			if err != nil {
				return err
			}
			return e.printRotated(output, r)
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
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, args []string) error {
			if err := b.revokeSecret(ctx, args[0], args[1]); err != nil {
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
		RunE: with(func(ctx context.Context, b clientsBackend, _ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			r, err := b.revokeTokens(ctx, args[0])
			if err != nil {
				return err
			}
			return e.printRevokedTokens(output, r)
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
