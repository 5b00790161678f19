package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/scope"
)

func (e *env) serveCmd(df *dataFlags) *cobra.Command {
	var addr, issuer, scopesFile, metricsAddr string
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
			return e.serve(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address; env GATEHOUSE_ADDR")
	f.StringVar(&issuer, "issuer", "", "issuer URL, the base of every advertised endpoint (default http://ADDR); env GATEHOUSE_ISSUER")
	f.StringVar(&scopesFile, "scopes", "", "scope catalog file (YAML; default: the built-in catalog); env GATEHOUSE_SCOPES")
	f.StringVar(&metricsAddr, "metrics-addr", "", "listen address of /metrics, apart from --addr (default: metrics are not served); env GATEHOUSE_METRICS_ADDR")
	f.BoolVar(&withPprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on --metrics-addr")
	f.StringArrayVar(&tokenAliases, "token-alias", nil, "extra path of the token endpoint besides /oauth/token (repeatable; replaces the default "+
		strings.Join(config.DefaultTokenAliases(), " and ")+"; --token-alias '' serves none); env GATEHOUSE_TOKEN_ALIASES (comma-separated)")
	return cmd
}

func (e *env) logger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// deps are what data commands and the server share.
type deps struct {
	st      store.Store
	keys    *token.Keyring
	catalog *scope.Catalog
	csrfKey []byte // console CSRF key, derived from the master key so every node agrees
	// clientIP finds the source address rate limits count against.
	clientIP *clientip.Resolver
}

// open opens the store, the scope catalog and the signing keys, creating the
// first key (and, in dev mode, the master key file) if there is none.
func (e *env) open(ctx context.Context, cfg config.Config, log *slog.Logger) (*deps, error) {
	catalog, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	master, generated, err := token.MasterKey(cfg.Secret, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if generated != "" {
		log.Warn("dev mode: GATEHOUSE_SECRET is not set, so a master key was generated; set GATEHOUSE_SECRET in production", "file", generated)
	}
	st, err := backend.Open(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	keys, err := token.NewKeyring(st, token.Config{
		Algorithm:      cfg.Keys.Algorithm,
		MasterKey:      master,
		LeadTime:       time.Duration(cfg.Keys.LeadTime),
		RotationPeriod: time.Duration(cfg.Keys.RotationPeriod),
		MaxTokenTTL:    time.Duration(cfg.Token.MaxTTL),
		Now:            time.Now,
		Rand:           rand.Reader,
		Logger:         log,
	})
	if err == nil {
		err = keys.Init(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	cip, err := clientip.New(cfg.RateLimit.TrustedProxies)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &deps{st: st, keys: keys, catalog: catalog, csrfKey: consoleCSRFKey(master), clientIP: cip}, nil
}

func (e *env) serve(ctx context.Context, cfg config.Config) error {
	log := e.logger(cfg)
	// Listeners first: a port that is taken must stop serve before it
	// creates the data directory, the database or the master key.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another with --addr)", cfg.Addr, err)
	}
	defer ln.Close()
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "0" {
		// A kernel-chosen port: derived defaults name the real one.
		derived := "http://" + cfg.Addr
		if cfg.Issuer == derived {
			cfg.Issuer = "http://" + ln.Addr().String()
		}
		if cfg.Token.Audience == derived {
			cfg.Token.Audience = cfg.Issuer
		}
	}
	var reg *prometheus.Registry // the server's and the gateway's metrics, if served
	if cfg.MetricsAddr != "" {
		reg = newRegistry()
	}
	ms, err := startMetrics(cfg.MetricsAddr, reg, cfg.MetricsPprof, log)
	if err != nil {
		return err
	}
	stopMetrics := ms.run()
	defer stopMetrics()

	d, err := e.open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.st.Close()
	con, err := e.newConsole(d, cfg, log)
	if err != nil {
		return err
	}
	pkce := cfg.OAuth.PKCERequired()
	refreshIdle, refreshAbsolute := cfg.OAuth.RefreshLifetimes()
	srv, err := server.New(server.Options{
		Console:             con,
		RequirePKCE:         &pkce,
		RefreshIdleTTL:      refreshIdle,
		RefreshAbsoluteTTL:  refreshAbsolute,
		Store:               d.st,
		Keys:                d.keys,
		Catalog:             d.catalog,
		Issuer:              cfg.Issuer,
		Audience:            cfg.Token.Audience,
		DefaultTTL:          time.Duration(cfg.Token.DefaultTTL),
		MaxTTL:              time.Duration(cfg.Token.MaxTTL),
		TokenPaths:          cfg.Token.AliasPaths,
		FailuresPerClient:   orUnlimited(cfg.RateLimit.PerClient),
		FailuresPerAddress:  orUnlimited(cfg.RateLimit.PerAddress),
		FailureBurst:        cfg.RateLimit.Burst,
		MaxStaleness:        time.Duration(cfg.Cache.MaxStaleness),
		RevocationFeedScope: cfg.RevocationFeed.RequireScope,
		ClientIP:            d.clientIP,
		Registry:            reg,
		Logger:              log,
		Now:                 time.Now,
		Rand:                rand.Reader,
	})
	if err != nil {
		return err
	}
	gw, err := e.embeddedGateway(cfg, d.catalog, reg, log) // nil unless gateway.enabled
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); srv.Run(bg) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	base := strings.TrimSuffix(cfg.Issuer, "/")
	consoleURL, discoveryURL := base+server.PathConsole, base+server.PathMetadata
	log.Info("gatehouse listening", append([]any{
		"addr", "http://" + ln.Addr().String(),
		"issuer", cfg.Issuer,
		"console", consoleURL,
		"discovery", discoveryURL,
		"store", backend.Describe(cfg.Database, cfg.DataDir),
		"scopes", strings.Join(d.catalog.Names(), " ")},
		ms.logAttrs()...)...)
	fmt.Fprintf(e.stderr, "\nGatehouse is running.\n    console:    %s\n    discovery:  %s\n\n", consoleURL, discoveryURL)
	e.announceSetup(ctx, con, log)
	stopGateway := gw.run(ctx, time.Duration(cfg.ShutdownTimeout))

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down", "timeout", time.Duration(cfg.ShutdownTimeout).String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(cfg.ShutdownTimeout))
		err = hs.Shutdown(sctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("shutdown timed out; closing remaining connections")
			_ = hs.Close()
			err = nil
		}
	}
	stopGateway()
	stopBG()
	<-bgDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// loadCatalog returns the configured scope catalog (the built-in one by
// default) and refuses a revocation_feed.require_scope that is also one of
// its scopes.
func loadCatalog(cfg config.Config) (*scope.Catalog, error) {
	catalog := scope.Default()
	if cfg.ScopesFile != "" {
		c, err := scope.Load(cfg.ScopesFile)
		if err != nil {
			return nil, err
		}
		catalog = c
	}
	if sc := cfg.RevocationFeed.RequireScope; sc != "" && catalog.Has(sc) {
		return nil, fmt.Errorf("revocation_feed.require_scope %q is also a scope of the catalog, so every client allowed it for the API could read the feed; choose a name of its own, e.g. gatehouse:revocations", sc)
	}
	return catalog, nil
}

// clientService is the client service as every command and the console use
// it: the revocation feed's scope is not in the catalog, but clients may be
// allowed it.
func clientService(st store.Store, catalog *scope.Catalog, cfg config.Config) *clients.Service {
	return clients.NewService(st, catalog, time.Duration(cfg.Token.MaxTTL), time.Now, rand.Reader, cfg.RevocationFeed.RequireScope)
}

// orUnlimited maps a configured 0 ("no limit") to the server's "unlimited".
func orUnlimited(n int) int {
	if n == 0 {
		return -1
	}
	return n
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
