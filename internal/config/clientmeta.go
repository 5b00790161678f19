package config

import "time"

// ClientFetchConfig is the `client_fetch:` section: the requests the server
// makes to URLs that clients publish (private_key_jwt JWKS URIs, client ID
// metadata documents). They go only to public addresses over https,
// follow no redirect, and are bounded in size and time (internal/safefetch).
type ClientFetchConfig struct {
	// AllowLoopback also fetches from loopback addresses (localhost,
	// 127.0.0.1, [::1]), over http too. For development and tests only: a
	// client could make the server call its own listeners.
	AllowLoopback bool `yaml:"allow_loopback"`
	// AllowPrivateAddresses also fetches from private and other
	// special-use addresses (10.0.0.0/8, fd00::/8, 169.254.0.0/16, …), for
	// clients that publish their documents on an internal network.
	AllowPrivateAddresses bool `yaml:"allow_private_addresses"`
	// Timeout bounds one fetch, all told. 0 = 5s.
	Timeout Duration `yaml:"timeout"`
}

// ClientMetadataDocumentsConfig is the `client_metadata_documents:`
// section: OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document), the MCP authorization
// specification's way for clients to identify themselves by a URL.
type ClientMetadataDocumentsConfig struct {
	// Enabled accepts client IDs that are https URLs at the authorization
	// and token endpoints, and advertises
	// client_id_metadata_document_supported.
	Enabled bool `yaml:"enabled"`
	// MinCacheTTL and MaxCacheTTL bound how long a fetched document is
	// used, whatever its Cache-Control or Expires header says. 0 = 5m and
	// 24h.
	MinCacheTTL Duration `yaml:"min_cache_ttl"`
	MaxCacheTTL Duration `yaml:"max_cache_ttl"`
}

// Defaults of the client_fetch and client_metadata_documents sections.
const (
	DefaultClientFetchTimeout = 5 * time.Second
	DefaultDocumentMinTTL     = 5 * time.Minute
	DefaultDocumentMaxTTL     = 24 * time.Hour
)

// FetchTimeout is client_fetch.timeout with its default for 0.
func (f ClientFetchConfig) FetchTimeout() time.Duration {
	if f.Timeout == 0 {
		return DefaultClientFetchTimeout
	}
	return time.Duration(f.Timeout)
}

// CacheTTLs returns the bounds of a document's cache lifetime, with the
// defaults for unset values.
func (d ClientMetadataDocumentsConfig) CacheTTLs() (lo, hi time.Duration) {
	lo, hi = time.Duration(d.MinCacheTTL), time.Duration(d.MaxCacheTTL)
	if lo == 0 {
		lo = DefaultDocumentMinTTL
	}
	if hi == 0 {
		hi = DefaultDocumentMaxTTL
	}
	return lo, hi
}

func (c *Config) checkClientMetadata(p *problems) {
	if t := c.ClientFetch.Timeout; t != 0 && (t < Duration(100*time.Millisecond) || t > Duration(time.Minute)) {
		p.add("client_fetch.timeout is %s; use from 100ms to 1m, e.g. 5s (0 = 5s)", t)
	}
	d := c.ClientMetadataDocuments
	if d.MinCacheTTL < 0 || d.MinCacheTTL > 0 && d.MinCacheTTL < Duration(time.Second) {
		p.add("client_metadata_documents.min_cache_ttl is %s; use at least 1s, e.g. 5m (0 = 5m)", d.MinCacheTTL)
	}
	if d.MaxCacheTTL < 0 {
		p.add("client_metadata_documents.max_cache_ttl is %s; use e.g. 24h (0 = 24h)", d.MaxCacheTTL)
	}
	if lo, hi := d.CacheTTLs(); hi < lo {
		p.add("client_metadata_documents.max_cache_ttl (%s) is below min_cache_ttl (%s); raise it, e.g. to 24h", Duration(hi), Duration(lo))
	}
}
