package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/app"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store/backend"
)

func (e *env) serveCmd(df *dataFlags) *cobra.Command {
	var addr, issuer, scopesFile, openAPIFile, metricsAddr string
	var withPprof bool
	var tokenAliases []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server. With no flags it stores everything in SQLite
under ./gatehouse-data and listens on 127.0.0.1:8080.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd, df, func(c *config.Config) {
				fl := cmd.Flags()
				if fl.Changed("addr") {
					c.Addr = addr
				}
				if fl.Changed("issuer") {
					c.Issuer = issuer
				}
				if fl.Changed("scopes") {
					c.ScopesFile = scopesFile
				}
				if fl.Changed("openapi") {
					c.API.OpenAPI = openAPIFile
				}
				if fl.Changed("metrics-addr") {
					c.MetricsAddr = metricsAddr
				}
				if fl.Changed("pprof") {
					c.MetricsPprof = withPprof
				}
				if fl.Changed("token-alias") {
					c.Token.AliasPaths = config.PathList(tokenAliases)
				}
			})
			if err != nil {
				return err
			}
			return app.Run(cmd.Context(), cfg, e.stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address; env GATEHOUSE_ADDR")
	f.StringVar(&issuer, "issuer", "", "issuer URL, the base of every advertised endpoint (default http://ADDR); env GATEHOUSE_ISSUER")
	f.StringVar(&scopesFile, "scopes", "", "scope catalog file (YAML; default: the built-in catalog; with --openapi, merged into the derived one); env GATEHOUSE_SCOPES")
	f.StringVar(&openAPIFile, "openapi", "", "the API's OpenAPI 3.0/3.1 document (YAML or JSON): derive the scope catalog from it; env GATEHOUSE_OPENAPI")
	f.StringVar(&metricsAddr, "metrics-addr", "", "listen address of /metrics, apart from --addr (default: metrics are not served); env GATEHOUSE_METRICS_ADDR")
	f.BoolVar(&withPprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --metrics-addr")
	f.StringArrayVar(&tokenAliases, "token-alias", nil, "extra path of the token endpoint besides /oauth/token (repeatable; replaces the default "+
		strings.Join(config.DefaultTokenAliases(), " and ")+"; --token-alias '' serves none); env GATEHOUSE_TOKEN_ALIASES (comma-separated)")
	return cmd
}

func (e *env) migrateCmd(df *dataFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database schema migrations (serve also does this at start-up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig(cmd, df, nil)
			if err != nil {
				return err
			}
			v, err := backend.Migrate(cmd.Context(), cfg.Database, cfg.DataDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: schema at version %d\n", backend.Describe(cfg.Database, cfg.DataDir), v)
			return nil
		},
	}
}
