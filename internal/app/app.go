// Package app assembles Gatehouse from one validated config.Config: the
// store, signing keys, scope catalog, services, console, authorization
// server and embedded gateway. It owns the listeners (public, metrics,
// gateway), the background jobs and shutdown. The CLI only turns flags and
// environment into a Config and calls [Run] or [RunGateway].
package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/consents"
	"github.com/gatehouse/gatehouse/internal/console"
	"github.com/gatehouse/gatehouse/internal/postman"
	"github.com/gatehouse/gatehouse/internal/registration"
	"github.com/gatehouse/gatehouse/internal/safefetch"
	"github.com/gatehouse/gatehouse/internal/server"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/usage"
	"github.com/gatehouse/gatehouse/internal/users"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/scope/openapi"
)

// Logger returns the log that cfg.Log describes, written to w.
func Logger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Deps are what the data commands and the server share.
type Deps struct {
	Store   store.Store
	Keys    *token.Keyring
	Catalog *scope.Catalog
	// APIBasePath is the base path of the API's OpenAPI document, if any:
	// the embedded gateway's unless gateway.base_path is set.
	APIBasePath string
	// OpenAPI is the API's OpenAPI document, as loaded, if api.openapi is
	// set.
	OpenAPI *openapi.API
	// Resources are the configured resources besides the default one
	// (resources:), with their catalogs.
	Resources []Resource
	// CSRFKey is the console's CSRF key, derived from the master key so
	// that every node agrees.
	CSRFKey []byte
	// IdempotencyKey seals the admin API's responses kept for retries.
	IdempotencyKey []byte
	// DPoPNonceKey MACs the token endpoint's DPoP nonces, so that every
	// node accepts every node's.
	DPoPNonceKey []byte
	// ClientIP finds the source address rate limits count against.
	ClientIP *clientip.Resolver
}

// Open opens the store, the scope catalog and the signing keys, creating
// the first key (and, in dev mode, the master key file) if there is none.
// The caller closes d.Store.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Deps, error) {
	api, err := LoadAPI(cfg)
	if err != nil {
		return nil, err
	}
	api.logWarnings(log)
	catalog := api.Catalog
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
	return &Deps{Store: st, Keys: keys, Catalog: catalog, APIBasePath: api.BasePath, OpenAPI: api.OpenAPI, ClientIP: cip,
		Resources:      api.Resources,
		CSRFKey:        deriveKey(master, "gatehouse console csrf v1"),
		IdempotencyKey: deriveKey(master, "gatehouse admin api idempotency v1"),
		DPoPNonceKey:   deriveKey(master, "gatehouse dpop nonce v1"),
	}, nil
}

// deriveKey derives a key for one purpose from the master key, so that
// every server sharing the master key derives the same (the console's CSRF
// tokens, the admin API's kept responses work on every node).
func deriveKey(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// LoadCatalog returns the configured scope catalog (see [LoadAPI]).
func LoadCatalog(cfg config.Config) (*scope.Catalog, error) {
	api, err := LoadAPI(cfg)
	return api.Catalog, err
}

// API is the protected API as the configuration describes it.
type API struct {
	Catalog *scope.Catalog
	// BasePath is the base path of the API's OpenAPI document (its servers'
	// path), "" without one.
	BasePath string
	// Warnings are what the catalog derived from the OpenAPI document
	// leaves out (openapi.API.Warnings), each naming the document.
	Warnings []string
	// OpenAPI is the loaded document, nil without one.
	OpenAPI *openapi.API
	// Resources are the APIs of resources:, each with its catalog.
	Resources []Resource
}

// Resource is an entry of resources: with its scope catalog.
type Resource struct {
	Config  config.ResourceConfig
	Catalog *scope.Catalog
	// BasePath is its OpenAPI document's base path, "" without one.
	BasePath string
}

// LoadAPI returns the configured scope catalog: derived from api.openapi
// with scopes_file merged in, or scopes_file alone, or the built-in one. It
// refuses a revocation_feed.require_scope that is also one of its scopes.
func LoadAPI(cfg config.Config) (API, error) {
	var api API
	cat, base, doc, warnings, err := loadCatalog(cfg.API.OpenAPI, cfg.ScopesFile)
	if err != nil {
		return API{}, err
	}
	api.Catalog, api.BasePath, api.OpenAPI, api.Warnings = cat, base, doc, warnings
	if api.Catalog == nil {
		api.Catalog = scope.Default()
	}
	sc := cfg.RevocationFeed.RequireScope
	if sc != "" && api.Catalog.Has(sc) {
		return API{}, fmt.Errorf("revocation_feed.require_scope %q is also a scope of the catalog, so every client allowed it for the API could read the feed; choose a name of its own, e.g. gatehouse:revocations", sc)
	}
	for i, rc := range cfg.Resources {
		cat, base, _, warnings, err := loadCatalog(rc.OpenAPI, rc.ScopesFile)
		if err != nil {
			return API{}, fmt.Errorf("resources[%d] (%s): %w", i, rc.ID, err)
		}
		if sc != "" && cat.Has(sc) {
			return API{}, fmt.Errorf("revocation_feed.require_scope %q is also a scope of resource %s; choose a name of its own, e.g. gatehouse:revocations", sc, rc.ID)
		}
		api.Warnings = append(api.Warnings, warnings...)
		api.Resources = append(api.Resources, Resource{Config: rc, Catalog: cat, BasePath: base})
	}
	return api, nil
}

// loadCatalog loads the catalog that an OpenAPI document and a YAML file
// give (either may be ""): derived from the document with the file merged
// in, or the file alone; nil for neither.
func loadCatalog(openAPI, scopesFile string) (*scope.Catalog, string, *openapi.API, []string, error) {
	switch {
	case openAPI != "":
		a, err := openapi.Load(openAPI, openapi.Options{ScopesFile: scopesFile})
		if err != nil {
			return nil, "", nil, nil, err
		}
		var warnings []string
		for _, w := range a.Warnings {
			warnings = append(warnings, openAPI+": "+w)
		}
		return a.Catalog, a.BasePath, a, warnings, nil
	case scopesFile != "":
		c, err := scope.Load(scopesFile)
		return c, "", nil, nil, err
	}
	return nil, "", nil, nil, nil
}

// resource returns the resource whose identifier is id, or nil.
func (a API) resource(id string) *Resource {
	for i := range a.Resources {
		if a.Resources[i].Config.ID == id {
			return &a.Resources[i]
		}
	}
	return nil
}

// ClientResources are the resources as the clients service checks them.
func ClientResources(rs []Resource) []clients.Resource {
	out := make([]clients.Resource, len(rs))
	for i, r := range rs {
		out[i] = clients.Resource{ID: r.Config.ID, Catalog: r.Catalog}
	}
	return out
}

// serverResources are the resources as the server issues tokens for them.
func serverResources(cfg config.Config, rs []Resource) []server.Resource {
	out := make([]server.Resource, len(rs))
	for i, r := range rs {
		def, maxTTL := r.Config.Lifetimes(cfg.Token)
		out[i] = server.Resource{ID: r.Config.ID, Name: r.Config.Name, Catalog: r.Catalog, DefaultTTL: def, MaxTTL: maxTTL}
	}
	return out
}

// logWarnings logs what the catalog derived from the OpenAPI document
// leaves out.
func (a API) logWarnings(log *slog.Logger) {
	for _, w := range a.Warnings {
		log.Warn("OpenAPI document: " + w)
	}
}

// ClientService is the client service as every command and the console use
// it: the revocation feed's scope is not in the catalog, but clients may be
// allowed it.
func ClientService(st store.Store, catalog *scope.Catalog, cfg config.Config) *clients.Service {
	extra := append([]string{cfg.RevocationFeed.RequireScope}, adminapi.SystemScopes()...)
	return clients.NewService(st, catalog, time.Duration(cfg.Token.MaxTTL), time.Now, rand.Reader, extra...)
}

// RegistrationService is dynamic client registration as the server and
// the registration commands use it, under the configured policy.
func RegistrationService(st store.Store, catalog *scope.Catalog, cs *clients.Service, cfg config.Config) (*registration.Service, error) {
	r := cfg.Registration
	return registration.New(registration.Options{
		Policy: r.Policy, Clients: cs, Store: st, Catalog: catalog, GrantTypes: r.GrantTypes,
		UnusedTTL: time.Duration(r.UnusedTTL), Now: time.Now, Rand: rand.Reader,
	})
}

// UserService is the user service as the console and the users commands
// use it, with the configured login limits.
func UserService(st store.Store, cfg config.Config) *users.Service {
	l := cfg.Login
	return users.New(users.Options{
		Store: st, Now: time.Now, Rand: rand.Reader,
		FailuresPerUser: l.PerClient, FailuresPerAddress: l.PerAddress, FailureBurst: l.Burst,
		RememberSuccess: time.Duration(l.RememberSuccess),
	})
}

// serverOptions turns the configuration into the authorization server's
// options; every value comes from cfg, none from a default of the server.
func serverOptions(cfg config.Config, d *Deps, con *console.Console, cs *consents.Service, reg *prometheus.Registry, log *slog.Logger) server.Options {
	pkce := cfg.OAuth.PKCERequired()
	refreshIdle, refreshAbsolute := cfg.OAuth.RefreshLifetimes()
	rl := cfg.RateLimit
	docMin, docMax := cfg.ClientMetadataDocuments.CacheTTLs()
	return server.Options{
		Console:             con,
		ConsolePages:        con.Register,
		Consents:            cs,
		RequirePKCE:         &pkce,
		RefreshIdleTTL:      refreshIdle,
		RefreshAbsoluteTTL:  refreshAbsolute,
		Store:               d.Store,
		Keys:                d.Keys,
		Catalog:             d.Catalog,
		Issuer:              cfg.Issuer,
		Audience:            cfg.Token.Audience,
		DefaultTTL:          time.Duration(cfg.Token.DefaultTTL),
		MaxTTL:              time.Duration(cfg.Token.MaxTTL),
		TokenPaths:          cfg.Token.AliasPaths,
		Quota:               server.QuotaOptions{PerMinute: cfg.Token.Quota.PerMinute, PerHour: cfg.Token.Quota.PerHour},
		Reuse:               server.ReuseOptions{MinRemaining: cfg.Token.Reuse.MinRemaining, MaxEntries: cfg.Token.Reuse.MaxEntries},
		Resources:           serverResources(cfg, d.Resources),
		FailuresPerClient:   rl.PerClient,
		FailuresPerAddress:  rl.PerAddress,
		FailureBurst:        rl.Burst,
		RememberSuccess:     time.Duration(rl.RememberSuccess),
		MaxStaleness:        time.Duration(cfg.Cache.MaxStaleness),
		MaxCachedClients:    cfg.Cache.MaxClients,
		RevocationFeedScope: cfg.RevocationFeed.RequireScope,
		CORSOrigins:         cfg.CORS.AllowedOrigins,
		CORSPublicOrigins:   cfg.CORS.PublicOrigins,
		ClientIP:            d.ClientIP,
		Fetch: safefetch.Options{
			AllowLoopback: cfg.ClientFetch.AllowLoopback,
			AllowPrivate:  cfg.ClientFetch.AllowPrivateAddresses,
			Timeout:       cfg.ClientFetch.FetchTimeout(),
		},
		ClientMetadata: server.ClientMetadataOptions{
			Enabled:     cfg.ClientMetadataDocuments.Enabled,
			MinCacheTTL: docMin,
			MaxCacheTTL: docMax,
		},
		RegistrationsPerAddress: cfg.Registration.PerAddress,
		RegistrationBurst:       cfg.Registration.Burst,
		DPoPWindow:              cfg.DPoP.Window(),
		DPoPNonce:               cfg.DPoP.RequireNonce,
		DPoPNonceKey:            d.DPoPNonceKey,
		Registry:                reg,
		Logger:                  log,
		Now:                     time.Now,
		Rand:                    rand.Reader,
	}
}

// Run serves the authorization server (and, when enabled, the embedded
// gateway and the metrics listener) until ctx is done, then shuts down
// gracefully. Log lines go to cfg's log on stderr; the console and setup
// links are printed on stderr too. cfg must be validated.
func Run(ctx context.Context, cfg config.Config, stderr io.Writer) error {
	log := Logger(cfg, stderr)
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

	d, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	// One consents service for the consent page and "Authorized apps".
	resources := server.ConsentResources(serverResources(cfg, d.Resources))
	cs := consents.New(d.Store, d.Catalog, time.Now).WithResources(resources)
	clientSvc, userSvc := ClientService(d.Store, d.Catalog, cfg).WithResources(ClientResources(d.Resources)), UserService(d.Store, cfg)
	var system *scope.Catalog
	if cfg.AdminAPI.Enabled {
		system = adminapi.SystemCatalog()
	}
	var srv *server.Server                      // set before the first request; the console and the admin API ask it
	usageSvc := usageService(cfg, d.Store, log) // usage.go; nil when off
	if usageSvc != nil && reg != nil {
		for _, c := range usageSvc.Collectors() {
			if err := reg.Register(c); err != nil {
				return err
			}
		}
	}
	con, err := console.New(console.Options{
		Usage:        usageSvc,
		SystemScopes: system,
		Store:        d.Store, Users: userSvc, Issuer: cfg.Issuer, Logger: log,
		Now: time.Now, Rand: rand.Reader, CSRFKey: d.CSRFKey, ClientIP: d.ClientIP,
		Clients: clientSvc, Consents: cs,
		Keys: d.Keys, Catalog: d.Catalog, Resources: resources,
		APIReference: cfg.API.OpenAPI != "",
		Quota: func(ctx context.Context, c store.Client) (console.QuotaUsage, error) {
			u, err := srv.ClientQuotaUsage(ctx, c)
			return console.QuotaUsage{PerMinute: u.PerMinute, PerHour: u.PerHour, UsedMinute: u.UsedMinute, UsedHour: u.UsedHour}, err
		},
	})
	if err != nil {
		return err
	}
	opts := serverOptions(cfg, d, con, cs, reg, log)
	if usageSvc != nil {
		opts.Usage = usageSvc.Tally()
	}
	if cfg.ClientFetch.AllowLoopback {
		log.Warn("client_fetch.allow_loopback is on: URLs that clients publish (JWKS URIs, client ID metadata documents) may reach this machine's loopback listeners; for development and tests only")
	}
	if opts.Registration, err = RegistrationService(d.Store, d.Catalog, clientSvc, cfg); err != nil {
		return err
	}
	if cfg.AdminAPI.Enabled {
		api, err := adminapi.New(adminapi.Options{
			Store: d.Store, Clients: clientSvc, Users: userSvc, Consents: cs, Keys: d.Keys, Catalog: d.Catalog,
			Issuer: cfg.Issuer, Audience: cfg.Token.Audience,
			Server:         func() *server.Server { return srv },
			IdempotencyKey: d.IdempotencyKey, Logger: log, Now: time.Now,
			Registration: opts.Registration, Usage: usageSvc,
		})
		if err != nil {
			return err
		}
		defer api.Close()
		opts.AdminAPI = api.Handler()
		opts.SystemScopes = adminapi.SystemScopes()
	}
	var gwRec *usage.Recorder
	var gwSender *usage.Sender
	if cfg.Gateway.Enabled && usageSvc != nil { // the embedded gateway hands its reports over in process
		if gwRec, gwSender, err = gatewayUsage(cfg, usageSvc.Report, reg, log); err != nil {
			return err
		}
	}
	gw, err := embeddedGateway(cfg, API{Catalog: d.Catalog, BasePath: d.APIBasePath, Resources: d.Resources}, reg, log, gwRec) // nil unless gateway.enabled
	if err != nil {
		return err
	}
	opts.Postman = postman.Handler(d.OpenAPI, postman.Options{
		TokenURL: strings.TrimSuffix(cfg.Issuer, "/") + server.PathToken,
		BaseURL:  gw.apiURL(cfg, d.APIBasePath),
	}, log)
	if opts.Docs, err = apiReference(cfg, d.APIBasePath, gw); err == nil {
		srv, err = server.New(opts)
	}
	if err != nil {
		gw.close()
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
	waitUsage := runUsage(bg, usageSvc, gwSender)

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	base := strings.TrimSuffix(cfg.Issuer, "/")
	consoleURL, discoveryURL := base+server.PathConsole, base+server.PathMetadata
	attrs := []any{
		"addr", "http://" + ln.Addr().String(),
		"issuer", cfg.Issuer,
		"console", consoleURL,
		"discovery", discoveryURL,
		"store", backend.Describe(cfg.Database, cfg.DataDir),
		"scopes", strings.Join(d.Catalog.Names(), " ")}
	if len(d.Resources) > 0 {
		ids := make([]string, len(d.Resources))
		for i, r := range d.Resources {
			ids[i] = r.Config.ID
		}
		attrs = append(attrs, "resources", strings.Join(ids, " "))
	}
	log.Info("gatehouse listening", append(attrs, ms.logAttrs()...)...)
	fmt.Fprintf(stderr, "\nGatehouse is running.\n    console:    %s\n    discovery:  %s\n\n", consoleURL, discoveryURL)
	announceSetup(ctx, con, log, stderr)
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
	waitUsage()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// announceSetup stores and prints a one-time first-administrator setup link
// when no administrator exists.
func announceSetup(ctx context.Context, con *console.Console, log *slog.Logger, stderr io.Writer) {
	link, err := con.SetupLink(ctx)
	if err != nil {
		log.Error("cannot check for an administrator", "err", err)
		return
	}
	if link == "" {
		return
	}
	// The link is a credential: it goes to the terminal, never into the
	// (possibly shipped) log stream.
	log.Warn("no administrator yet: open the setup link printed on standard error (valid 1 hour on any server sharing this database, until an administrator exists)")
	fmt.Fprintf(stderr, "\nNo administrator exists yet. Create the first one within an hour at:\n\n    %s\n\n", link)
}
