// Package config holds the settings of gatehouse serve and the data
// commands. Settings come from, in increasing precedence: defaults, a YAML
// file, the environment, and command-line flags. [Load] applies the first
// three; the CLI sets the fields its flags name and then calls
// [Config.Validate], which fills derived defaults and reports every problem.
package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/gateway"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/resource"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. The yaml tags are the config file's
// keys; unknown keys in a file are errors.
type Config struct {
	Addr       string `yaml:"addr"`        // listen address, host:port
	DataDir    string `yaml:"data_dir"`    // SQLite store and dev-mode master key
	Database   string `yaml:"database"`    // "" = SQLite in DataDir; else postgres://...
	Issuer     string `yaml:"issuer"`      // "" = http://<addr>; see Validate
	ScopesFile string `yaml:"scopes_file"` // "" = the built-in scope catalog
	// MetricsAddr is the listen address of /metrics (host:port), apart from
	// the public listener; "" = metrics are not served.
	MetricsAddr string `yaml:"metrics_addr"`
	// MetricsPprof also serves net/http/pprof under /debug/pprof/ on the
	// metrics listener.
	MetricsPprof bool `yaml:"metrics_pprof"`
	// Secret is the master key that encrypts signing keys at rest. It is
	// read only from GATEHOUSE_SECRET, never from a file.
	Secret string `yaml:"-"`

	Log       LogConfig       `yaml:"log"`
	Token     TokenConfig     `yaml:"token"`
	Keys      KeysConfig      `yaml:"keys"`
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	// Login limits failed console logins per username and per address
	// (TrustedProxies unused). It has no file key: the values are fixed
	// here, with every other default.
	Login   RateLimitConfig `yaml:"-"`
	Gateway GatewayConfig   `yaml:"gateway"`
	// RevocationFeed configures GET /oauth/revocations.
	RevocationFeed RevocationFeedConfig `yaml:"revocation_feed"`
	OAuth          OAuthConfig          `yaml:"oauth"` // authorization code and refresh tokens
	Cache          CacheConfig          `yaml:"cache"` // the client cache's bounded staleness
	DPoP           DPoPConfig           `yaml:"dpop"`  // DPoP proofs (RFC 9449)
	AdminAPI       AdminAPIConfig       `yaml:"admin_api"`
	API            APIConfig            `yaml:"api"` // the protected API's OpenAPI document
	// Resources are more APIs behind this server, each with its own scope
	// catalog and audience (RFC 8707); the top-level catalog is the
	// default resource.
	Resources []ResourceConfig `yaml:"resources"`
	// Registration configures dynamic client registration (RFC 7591).
	Registration RegistrationConfig `yaml:"registration"`
	// CORS says which pages on other origins may call the server's token
	// endpoint, revocation feed, metadata and JWKS, and the gateway.
	CORS CORSConfig `yaml:"cors"`
	// ClientFetch bounds the requests to URLs clients publish; see
	// ClientFetchConfig.
	ClientFetch ClientFetchConfig `yaml:"client_fetch"`
	// ClientMetadataDocuments: client IDs that are URLs of metadata
	// documents (off by default).
	ClientMetadataDocuments ClientMetadataDocumentsConfig `yaml:"client_metadata_documents"`
	// ShutdownTimeout is how long serve waits for requests in flight when
	// stopping; 0 closes connections at once.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Usage configures usage per credential (usage.go).
	Usage UsageConfig `yaml:"usage"`
}

// AdminAPIConfig configures the admin API (/admin/v1/).
type AdminAPIConfig struct {
	Enabled bool `yaml:"enabled"` // default true
}

// LogConfig configures the server's log.
type LogConfig struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn or error
}

// TokenConfig configures access tokens.
type TokenConfig struct {
	DefaultTTL Duration `yaml:"default_ttl"` // lifetime for clients without their own
	MaxTTL     Duration `yaml:"max_ttl"`     // upper bound of every client's lifetime
	Audience   string   `yaml:"audience"`    // aud claim; "" = the issuer
	// AliasPaths are extra paths for the token endpoint besides
	// /oauth/token (the one discovery advertises). A list here replaces the
	// default, [DefaultTokenAliases]; an empty list turns aliases off.
	AliasPaths []string `yaml:"alias_paths"`
	// Quota is the default issuance quota of clients without their own
	// (quota.go); Reuse the default token reuse window and its cache.
	Quota QuotaConfig `yaml:"quota"`
	Reuse ReuseConfig `yaml:"reuse"`
}

// KeysConfig configures the signing keys.
type KeysConfig struct {
	Algorithm      string   `yaml:"algorithm"`       // ES256, RS256, PS256 or EdDSA
	RotationPeriod Duration `yaml:"rotation_period"` // 0 = no automatic rotation
	LeadTime       Duration `yaml:"lead_time"`       // how long a new key is published before it signs
}

// RateLimitConfig limits failed client authentications. A limit of 0 means
// no limit (and so does a burst of 0 with rates of 0).
type RateLimitConfig struct {
	PerClient  int `yaml:"per_client"`  // failures per minute per client ID
	PerAddress int `yaml:"per_address"` // failures per minute per source address
	Burst      int `yaml:"burst"`       // failures allowed at once before the rate applies
	// TrustedProxies are the addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For is believed when finding a request's source
	// address (see internal/clientip). Empty: the TCP peer address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RememberSuccess is how long a (client or username, address) pair
	// that authenticated passes the limits above; 0: never. No file key.
	RememberSuccess Duration `yaml:"-"`
}

// DefaultTokenAliases returns the token endpoint aliases served by default:
// the token paths API platforms document, so that their instructions work
// verbatim.
func DefaultTokenAliases() []string {
	return []string{"/oauth/access_token", "/oauth/v2/token"}
}

// Default returns the built-in configuration. Its Issuer and Audience are
// empty: [Config.Validate] derives them.
func Default() Config {
	return Config{
		Addr:    "127.0.0.1:8080",
		DataDir: "./gatehouse-data",
		Log:     LogConfig{Format: "text", Level: "info"},
		Token: TokenConfig{
			DefaultTTL: Duration(time.Hour),
			MaxTTL:     Duration(30 * 24 * time.Hour),
			AliasPaths: DefaultTokenAliases(),
			Reuse:      ReuseConfig{MaxEntries: DefaultReuseEntries},
		},
		Keys: KeysConfig{
			Algorithm:      "ES256",
			RotationPeriod: Duration(90 * 24 * time.Hour),
			LeadTime:       Duration(token.DefaultLeadTime),
		},
		RateLimit: RateLimitConfig{PerClient: 30, PerAddress: 60, Burst: 10, RememberSuccess: Duration(24 * time.Hour)},
		Login:     RateLimitConfig{PerClient: 5, PerAddress: 20, Burst: 5, RememberSuccess: Duration(24 * time.Hour)},
		Cache:     CacheConfig{MaxStaleness: Duration(5 * time.Second), MaxClients: DefaultCacheMaxClients},
		Gateway: GatewayConfig{
			AccountHeader:   resource.DefaultAccountHeader,
			UpstreamTimeout: Duration(gateway.DefaultUpstreamTimeout),
			RevocationPoll:  Duration(resource.DefaultRevocationPoll),
		},
		ShutdownTimeout: Duration(15 * time.Second),
		AdminAPI:        AdminAPIConfig{Enabled: true},
		Registration:    defaultRegistration(),
		Usage:           defaultUsage(),
	}
}

// Environment variables Load reads, and the fields they set.
var envVars = []envVar{
	{"GATEHOUSE_ADDR", str(func(c *Config) *string { return &c.Addr })},
	{"GATEHOUSE_DATA_DIR", str(func(c *Config) *string { return &c.DataDir })},
	{"GATEHOUSE_DATABASE_URL", str(func(c *Config) *string { return &c.Database })},
	{"GATEHOUSE_ISSUER", str(func(c *Config) *string { return &c.Issuer })},
	{"GATEHOUSE_SECRET", str(func(c *Config) *string { return &c.Secret })},
	{"GATEHOUSE_SCOPES", str(func(c *Config) *string { return &c.ScopesFile })},
	{"GATEHOUSE_OPENAPI", str(func(c *Config) *string { return &c.API.OpenAPI })},
	{"GATEHOUSE_METRICS_ADDR", str(func(c *Config) *string { return &c.MetricsAddr })},
	{"GATEHOUSE_LOG_FORMAT", str(func(c *Config) *string { return &c.Log.Format })},
	{"GATEHOUSE_LOG_LEVEL", str(func(c *Config) *string { return &c.Log.Level })},
	// The embedded gateway's client secret, like the standalone one's.
	{"GATEHOUSE_GATEWAY_CLIENT_SECRET", str(func(c *Config) *string { return &c.Gateway.ClientSecret })},
	{"GATEHOUSE_TOKEN_ALIASES", func(c *Config, s string) error {
		c.Token.AliasPaths = PathList(strings.Split(s, ","))
		return nil
	}},
	{"GATEHOUSE_CORS_ALLOWED_ORIGINS", list(func(c *Config) *[]string { return &c.CORS.AllowedOrigins })},
	{"GATEHOUSE_CORS_PUBLIC_ORIGINS", list(func(c *Config) *[]string { return &c.CORS.PublicOrigins })},
	{"GATEHOUSE_REGISTRATION_POLICY", str(func(c *Config) *string { return &c.Registration.Policy })},
}

// Load returns the defaults, overridden by the YAML file at path (if path
// is "": the file GATEHOUSE_CONFIG names, if any), overridden by the environment as read by getenv (nil: no
// environment). An empty environment variable counts as unset, and so does
// a key with no value in the file. Load does not validate: apply flags,
// then call [Config.Validate].
//
// Problems in the file (syntax, unknown keys, values of the wrong type) are
// reported together as an *[Error] naming the file and lines.
//
// Environment variables: GATEHOUSE_ADDR, GATEHOUSE_DATA_DIR,
// GATEHOUSE_DATABASE_URL, GATEHOUSE_ISSUER, GATEHOUSE_SECRET,
// GATEHOUSE_SCOPES (scopes_file), GATEHOUSE_OPENAPI (api.openapi), GATEHOUSE_METRICS_ADDR, GATEHOUSE_LOG_FORMAT,
// GATEHOUSE_LOG_LEVEL, GATEHOUSE_TOKEN_ALIASES (token.alias_paths,
// comma-separated; replaces the default list), GATEHOUSE_GATEWAY_CLIENT_SECRET
// (gateway.client_id's secret), GATEHOUSE_CORS_ALLOWED_ORIGINS and
// GATEHOUSE_CORS_PUBLIC_ORIGINS (cors.allowed_origins, cors.public_origins;
// comma-separated), GATEHOUSE_REGISTRATION_POLICY (registration.policy).
// [EnvVars] lists every variable.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path == "" && getenv != nil {
		path = getenv("GATEHOUSE_CONFIG")
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeFile(data, &cfg); err != nil {
			err.File = path
			return cfg, err
		}
	}
	if getenv != nil {
		for _, v := range envVars {
			if s := getenv(v.name); s != "" {
				_ = v.set(&cfg, s) // strings: never fails
			}
		}
	}
	return cfg, nil
}

// PathList trims each of paths and drops the empty ones, so that a list
// given as "/a, /b" or as a flag set to "" (no aliases) means what it says.
// The result is never nil. Lists of origins are read the same way.
func PathList(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// An Error lists problems with the configuration, one per line.
type Error struct {
	File     string   // the config file, for problems found reading it
	Problems []string // e.g. `line 3: unknown key "tll" in token (...)`
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// decodeFile applies a YAML config file to cfg. A first, strict pass finds
// unknown keys and bad values; the second applies the file, skipping keys
// without a value, so that a section whose keys are all commented out
// keeps its defaults instead of being zeroed.
func decodeFile(data []byte, cfg *Config) *Error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var scratch Config
	switch err := dec.Decode(&scratch); {
	case err == io.EOF:
		return nil // empty file
	case err != nil:
		return &Error{Problems: fileProblems(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return &Error{Problems: fileProblems(err)}
		}
		return &Error{Problems: []string{fmt.Sprintf("line %d: a second YAML document; a config file is a single document", extra.Line)}}
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{Problems: fileProblems(err)} // not reached: the first pass parsed it
	}
	dropNulls(&doc)
	if err := doc.Decode(cfg); err != nil {
		return &Error{Problems: fileProblems(err)}
	}
	return nil
}

// dropNulls removes mapping entries whose value is null.
func dropNulls(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			dropNulls(c)
		}
	case yaml.MappingNode:
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
				continue
			}
			dropNulls(v)
			kept = append(kept, k, v)
		}
		n.Content = kept
	}
}

var unknownField = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)

// fileProblems turns a yaml.v3 error into one message per problem, naming
// unknown keys the way the file does.
func fileProblems(err error) []string {
	te, ok := err.(*yaml.TypeError)
	if !ok {
		return []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		m := unknownField.FindStringSubmatch(msg)
		if m == nil {
			out[i] = msg
			continue
		}
		line, key, typ := m[1], m[2], m[3]
		sec := sections()[typ]
		switch {
		case sec.name == "" && key == "secret":
			out[i] = fmt.Sprintf("line %s: secret is never read from a file; set GATEHOUSE_SECRET instead", line)
		case sec.name == "":
			out[i] = fmt.Sprintf("line %s: unknown key %q (known keys: %s)", line, key, strings.Join(sec.keys, ", "))
		default:
			out[i] = fmt.Sprintf("line %s: unknown key %q in %s (known keys: %s)", line, key, sec.name, strings.Join(sec.keys, ", "))
		}
	}
	return out
}

type section struct {
	name string   // "" for the top level
	keys []string // in declaration order
}

// sections maps the Go type names in yaml.v3's errors ("config.TokenConfig")
// to the file's section name ("token") and keys.
func sections() map[string]section {
	m := make(map[string]section)
	var walk func(t reflect.Type, name string)
	walk = func(t reflect.Type, name string) {
		var keys []string
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "-" || tag == "" {
				continue
			}
			keys = append(keys, tag)
			if f.Type.Kind() == reflect.Struct && name == "" {
				walk(f.Type, tag)
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct && name == "" {
				walk(f.Type.Elem(), tag)
			}
		}
		m[t.String()] = section{name: name, keys: slices.Clip(keys)}
	}
	walk(reflect.TypeFor[Config](), "")
	return m
}
