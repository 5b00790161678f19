package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/clientip"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Algorithms are the JWS algorithms keys.algorithm may name (RFC 7518, RFC 8037).
var algorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// builtinPaths are the server's own paths, which a token alias may not
// take; a trailing "/" marks a whole subtree.
var builtinPaths = []string{
	"/oauth/token", "/oauth/authorize", "/oauth/introspect", "/oauth/revoke", "/oauth/revocations", "/oauth/register/",
	"/.well-known/", "/healthz", "/readyz", "/metrics", "/console/",
}

// minSecretLen is the shortest GATEHOUSE_SECRET accepted.
const minSecretLen = 32

// Validate checks the configuration and reports every problem at once, as
// an *[Error] with one line per problem naming the key and the fix.
//
// It also completes the configuration: an empty Issuer becomes
// http://<addr> (with "localhost" for an all-interfaces address such as
// ":8080"), an empty Token.Audience becomes the issuer, log format and
// level are lower-cased, and keys.algorithm is spelled canonically
// ("es256" → "ES256"). Call it after applying flags; calling it again is
// harmless.
func (c *Config) Validate() error {
	var p problems

	addrOK := c.checkAddr(&p)
	if c.DataDir == "" && (c.Database == "" || c.Secret == "") {
		p.add("data_dir is empty; it holds the SQLite store and, without GATEHOUSE_SECRET, the generated master key: set data_dir (GATEHOUSE_DATA_DIR, --data-dir)")
	}
	c.checkDatabase(&p)

	derived := false
	if c.Issuer == "" && addrOK {
		c.Issuer = issuerFor(c.Addr)
		derived = true
	}
	c.checkIssuer(&p, derived)
	if c.Token.Audience == "" {
		c.Token.Audience = c.Issuer
	}

	if c.Secret != "" && utf8.RuneCountInString(c.Secret) < minSecretLen {
		p.add("GATEHOUSE_SECRET is too short (%d characters); use at least %d, e.g. the output of \"openssl rand -base64 32\"",
			utf8.RuneCountInString(c.Secret), minSecretLen)
	}

	c.checkLog(&p)

	c.checkToken(&p)
	c.checkKeys(&p)
	c.checkGateway(&p)
	c.checkAPI(&p, "GATEHOUSE_OPENAPI")
	c.checkResources(&p)
	c.checkCORS(&p, false)
	c.checkMetrics(&p)
	c.checkRevocationFeed(&p)
	c.checkOAuth(&p)
	c.checkCache(&p)
	c.checkQuota(&p)
	c.checkUsage(&p)
	c.checkClientMetadata(&p)
	c.checkDPoP(&p)
	c.checkRegistration(&p)

	rl := c.RateLimit
	if rl.PerClient < 0 {
		p.add("rate_limit.per_client is %d; use a number of failures per minute, or 0 for no limit", rl.PerClient)
	}
	if rl.PerAddress < 0 {
		p.add("rate_limit.per_address is %d; use a number of failures per minute, or 0 for no limit", rl.PerAddress)
	}
	if rl.Burst < 0 || rl.Burst == 0 && (rl.PerClient > 0 || rl.PerAddress > 0) {
		p.add("rate_limit.burst is %d; it must be at least 1 while a rate limit is on", rl.Burst)
	}
	for _, tp := range rl.TrustedProxies {
		if _, err := clientip.ParsePrefix(tp); err != nil {
			p.add("rate_limit.trusted_proxies: %v; use e.g. 10.0.0.0/8 or 192.0.2.10", err)
		}
	}
	if c.ShutdownTimeout < 0 {
		p.add("shutdown_timeout is negative (%s); use e.g. 15s, or 0 to close connections at once", c.ShutdownTimeout)
	}
	return p.err()
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}

// checkAddr reports whether Addr is a usable host:port.
func (c *Config) checkAddr(p *problems) bool {
	_, port, err := net.SplitHostPort(c.Addr)
	if err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
	}
	if err != nil {
		p.add("addr %q is not host:port (%v); use e.g. 127.0.0.1:8080 or :8080 (GATEHOUSE_ADDR, --addr)", c.Addr, unwrapAddrErr(err))
		return false
	}
	return true
}

// unwrapAddrErr drops the address net.SplitHostPort repeats in its error.
func unwrapAddrErr(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

// issuerFor derives the issuer from the listen address.
func issuerFor(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *Config) checkDatabase(p *problems) {
	if c.Database == "" {
		return
	}
	const example = "use e.g. postgres://user:password@host:5432/gatehouse, or leave it empty for SQLite (GATEHOUSE_DATABASE_URL, --database)"
	u, err := url.Parse(c.Database)
	if err != nil {
		// Do not echo the value: it may hold a password.
		p.add("database is not a valid URL; %s", example)
		return
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		p.add("database %q: unsupported scheme %q; %s", u.Redacted(), u.Scheme, example)
	}
}

// checkIssuer checks Issuer as RFC 8414 §2 and RFC 9068 need it: an
// absolute http(s) URL without query or fragment, https unless local.
func (c *Config) checkIssuer(p *problems, derived bool) {
	if c.Issuer == "" {
		return // addr is invalid, and already reported
	}
	from := ""
	if derived {
		from = " (derived from addr)"
	}
	const fix = "set issuer (GATEHOUSE_ISSUER, --issuer) to the URL clients reach this server at, e.g. https://auth.example.com"
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil:
		p.add("issuer %q%s is not a valid URL; %s", c.Issuer, from, fix)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Opaque != "":
		p.add("issuer %q%s is not an absolute http or https URL; %s", c.Issuer, from, fix)
	case u.User != nil:
		p.add("issuer %q%s must not contain user information; %s", u.Redacted(), from, fix)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#"):
		p.add("issuer %q%s must not have a query or fragment (RFC 8414 §2); remove the part from \"?\" or \"#\"", c.Issuer, from)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		p.add("issuer %q%s must use https unless its host is localhost or a loopback address; %s", c.Issuer, from, fix)
	}
}

func isLoopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) checkToken(p *problems) {
	t := c.Token
	if t.DefaultTTL <= 0 {
		p.add("token.default_ttl is %s; it must be positive, e.g. 1h", t.DefaultTTL)
	}
	if t.MaxTTL <= 0 {
		p.add("token.max_ttl is %s; it must be positive, e.g. 30d", t.MaxTTL)
	}
	if t.DefaultTTL > 0 && t.MaxTTL > 0 && t.DefaultTTL > t.MaxTTL {
		p.add("token.default_ttl (%s) exceeds token.max_ttl (%s); lower default_ttl or raise max_ttl", t.DefaultTTL, t.MaxTTL)
	}
	if strings.TrimSpace(t.Audience) != t.Audience || strings.ContainsFunc(t.Audience, isControl) {
		p.add("token.audience %q contains white space at an end or a control character; remove it", t.Audience)
	}
	seen := make(map[string]int)
	for i, path := range t.AliasPaths {
		key := fmt.Sprintf("token.alias_paths[%d] %q", i, path)
		if msg := checkAliasPath(path); msg != "" {
			p.add("%s %s", key, msg)
			continue
		}
		if j, dup := seen[path]; dup {
			p.add("%s repeats token.alias_paths[%d]; list each path once", key, j)
			continue
		}
		seen[path] = i
	}
}

// checkAliasPath returns what is wrong with a token endpoint alias, or "".
// An alias becomes a net/http.ServeMux pattern, so it must be a plain,
// exact path: no wildcards ("{x}"), no trailing "/" (a subtree).
func checkAliasPath(path string) string {
	const eg = "e.g. /oauth/v2/token"
	switch {
	case path == "":
		return "is empty; give a path such as /oauth/v2/token, or remove the entry"
	case path[0] != '/':
		return "must start with \"/\"; " + eg
	case path == "/":
		return "would take every path; " + eg
	case strings.HasSuffix(path, "/"):
		return "must not end in \"/\"; " + eg
	case strings.Contains(path, "//"):
		return "has an empty segment (\"//\"); " + eg
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("has a %q segment; %s", seg, eg)
		}
	}
	for _, r := range path {
		if !isPathChar(r) {
			return fmt.Sprintf("contains %q; use letters, digits and - . _ ~ : @ ! $ & ' ( ) * + , ; = %% only", r)
		}
	}
	for _, b := range builtinPaths {
		if path == b || strings.HasSuffix(b, "/") && (path+"/" == b || strings.HasPrefix(path, b)) {
			return "is a built-in path of the server; choose another, " + eg
		}
	}
	return ""
}

// isPathChar reports whether r may appear in an alias path: "/" and the
// RFC 3986 pchar set (unreserved, sub-delims, ":", "@", and "%" escapes).
func isPathChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("/-._~:@!$&'()*+,;=%", r)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (c *Config) checkKeys(p *problems) {
	k := &c.Keys
	if i := slices.IndexFunc(algorithms, func(a string) bool { return strings.EqualFold(a, k.Algorithm) }); i >= 0 {
		k.Algorithm = algorithms[i]
	} else {
		p.add("keys.algorithm %q is not supported; use %s", k.Algorithm, strings.Join(algorithms, ", "))
	}
	// The lead time also applies to rotations by hand (keys rotate without
	// --now, the console), so it is checked with automatic rotation off.
	switch {
	case k.RotationPeriod < 0:
		p.add("keys.rotation_period is negative (%s); use e.g. 90d, or 0 to rotate only by hand", k.RotationPeriod)
	case k.LeadTime < 0:
		p.add("keys.lead_time is negative (%s); use e.g. 1h", k.LeadTime)
	case k.LeadTime == 0 && k.RotationPeriod > 0:
		p.add("keys.lead_time is 0; a new key must be published before it signs, so use e.g. 1h")
	case k.LeadTime > 0 && time.Duration(k.LeadTime) < token.MinLeadTime:
		p.add("keys.lead_time (%s) is shorter than %s: a new key must be published at least one JWKS cache lifetime before it signs, and the JWKS max-age is a quarter of the lead time; raise lead_time to at least %s (default 1h)",
			k.LeadTime, Duration(token.MinLeadTime), Duration(token.MinLeadTime))
	case k.RotationPeriod == 0:
		// Automatic rotation is off.
	case k.LeadTime >= k.RotationPeriod:
		p.add("keys.lead_time (%s) must be shorter than keys.rotation_period (%s); lower lead_time or raise rotation_period", k.LeadTime, k.RotationPeriod)
	}
}

func (c *Config) checkLog(p *problems) {
	c.Log.Format = strings.ToLower(c.Log.Format)
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format %q is not supported; use text or json (GATEHOUSE_LOG_FORMAT)", c.Log.Format)
	}
	c.Log.Level = strings.ToLower(c.Log.Level)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		p.add("log.level %q is not supported; use debug, info, warn or error (GATEHOUSE_LOG_LEVEL)", c.Log.Level)
	}
}
