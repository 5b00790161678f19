package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
)

// The data commands (clients, keys, users, registration, audit) run locally, on the store
// that --data-dir or --database names, or remotely, through the admin API
// of the server that --server (GATEHOUSE_SERVER) names, authenticated as
// the client GATEHOUSE_CLIENT_ID with GATEHOUSE_CLIENT_SECRET. Both print
// the same admin package values, so their output is the same for the same
// data.

// serverFlag is the --server flag of a data command.
type serverFlag struct{ url string }

func (sf *serverFlag) register(cmd *cobra.Command, persistent bool) {
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.StringVar(&sf.url, "server", "", "run through the admin API of the server at this URL (its issuer) instead of opening the store; env GATEHOUSE_SERVER, with GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET")
}

// onBackend runs a data command's run on what it runs on: remote's backend
// on the server remote mode names (see env.remote), or local's on this
// machine's configuration (loaded with mod, if any) and store, released
// (local's func) once run returns.
func onBackend[B any](e *env, cmd *cobra.Command, df *dataFlags, sf *serverFlag, mod func(*config.Config),
	remote func(*remoteConn) (B, error), local func(ctx context.Context, cfg config.Config) (B, func(), error),
	run func(ctx context.Context, b B) error) error {
	rc, err := e.remote(cmd, sf)
	if err != nil {
		return err
	}
	if rc != nil {
		b, err := remote(rc)
		if err != nil {
			return err
		}
		return run(cmd.Context(), b)
	}
	cfg, err := e.loadConfig(cmd, df, mod)
	if err != nil {
		return err
	}
	b, release, err := local(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	defer release()
	return run(cmd.Context(), b)
}

// onApp is onBackend's local side for a command that needs the app's
// dependencies (app.Open): build makes the backend on them; the store is
// closed once the command is done, or at once if build fails.
func onApp[B any](e *env, build func(d *app.Deps, cfg config.Config) (B, error)) func(context.Context, config.Config) (B, func(), error) {
	return func(ctx context.Context, cfg config.Config) (B, func(), error) {
		var none B
		d, err := app.Open(ctx, cfg, app.Logger(cfg, e.stderr))
		if err != nil {
			return none, nil, err
		}
		b, err := build(d, cfg)
		if err != nil {
			d.Store.Close()
			return none, nil, err
		}
		return b, func() { d.Store.Close() }, nil
	}
}

// remoteTimeout bounds each request of remote mode.
const remoteTimeout = 30 * time.Second

// remoteConn is the server a command runs against in remote mode.
type remoteConn struct {
	api    *admin.API
	server string       // its URL
	hc     *http.Client // what sends every request
}

// remote returns the server the command runs against, or nil when it runs
// locally. --server beats GATEHOUSE_SERVER; an explicit --data-dir,
// --database or --config beats GATEHOUSE_SERVER too (flags beat the
// environment), and contradicts --server.
func (e *env) remote(cmd *cobra.Command, sf *serverFlag) (*remoteConn, error) {
	fl := cmd.Flags()
	local := fl.Changed("data-dir") || fl.Changed("database") || fl.Changed("config")
	r := config.LoadRemote(e.getenv)
	switch {
	case fl.Changed("server") && local:
		return nil, usagef("--server and --data-dir, --database or --config exclude each other: with --server the server uses its own store and configuration")
	case fl.Changed("server"):
		r.Server = sf.url
	case local || r.Server == "":
		return nil, nil
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: remoteTimeout, CheckRedirect: admin.NoRedirects}
	ctx := context.WithValue(cmd.Context(), oauth2.HTTPClient, hc)
	ts := &scopeFallback{ctx: ctx, server: r.Server, id: r.ClientID, secret: r.ClientSecret}
	return &remoteConn{api: admin.New(r.Server, ts, admin.WithHTTPClient(hc)), server: r.Server, hc: hc}, nil
}

// remoteScopes are the scope sets remote mode asks for, in order, until the
// token endpoint grants one: everything; managing clients and reading the
// rest; managing clients; reading. A command the granted scopes do not
// allow then fails with the admin API's 403, which names the scope it
// needs, rather than at the token endpoint.
var remoteScopes = [][]string{
	{admin.ScopeAdmin},
	{admin.ScopeClients, admin.ScopeAdminRead},
	{admin.ScopeClients},
	{admin.ScopeAdminRead},
}

// scopeFallback is the token source of remote mode: client credentials with
// the first of remoteScopes the client is allowed.
type scopeFallback struct {
	ctx                context.Context
	server, id, secret string
	ts                 oauth2.TokenSource // the one that worked
}

func (f *scopeFallback) Token() (*oauth2.Token, error) {
	if f.ts != nil {
		return f.ts.Token()
	}
	var first error
	for _, scopes := range remoteScopes {
		ts := admin.ClientCredentials(f.ctx, f.server, f.id, f.secret, scopes...)
		tok, err := ts.Token()
		if err == nil {
			f.ts = ts
			return tok, nil
		}
		if first == nil {
			first = err
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_scope" {
			return nil, err // bad credentials, unreachable: asking again will not help
		}
	}
	return nil, first
}

// localOnly is the error of an option that remote mode cannot honour.
func localOnly(what, why string) error {
	return usagef("%s works only without --server: %s", what, why)
}

// errorText is the one-line message of a command's error: a problem from
// the admin API with each of its errors.
func errorText(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// The token endpoint refused the credentials of remote mode.
		return oneLine(err) + " (check GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET: a client allowed " + admin.ScopeAdmin + ", " + admin.ScopeClients + " or " + admin.ScopeAdminRead + ")"
	}
	var p *admin.Problem
	if errors.As(err, &p) && len(p.Errors) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%d %s:", p.Status, p.Title)
		for i, fe := range p.Errors {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(" " + fe.Detail)
			if fe.Field != "" {
				fmt.Fprintf(&b, " (%s)", fe.Field)
			}
		}
		return oneLine(errors.New(b.String()))
	}
	return oneLine(err)
}
