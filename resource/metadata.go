package resource

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownPath is the path prefix of OAuth 2.0 Protected Resource Metadata
// (RFC 9728 §3).
const WellKnownPath = "/.well-known/oauth-protected-resource"

// metadataMaxAge is the max-age, in seconds, of the metadata document: short,
// so that a changed catalog shows soon.
const metadataMaxAge = 300

// protectedResource is the metadata document (RFC 9728 §2).
type protectedResource struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	// DPoP (RFC 9728 §2, RFC 9449): the proof algorithms accepted, with
	// Config.DPoP.Enabled; whether bound tokens are required.
	DPoPSigningAlgs   []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

// WellKnownURL returns the URL of the Protected Resource Metadata of the
// resource identifier id (RFC 9728 §3.1): WellKnownPath inserted between
// the host and the path, a path of "/" being dropped; so
// "https://api.example.com/v1" gives
// "https://api.example.com/.well-known/oauth-protected-resource/v1". It
// returns an error if id is not a usable identifier (§1.2): an https URL
// (http only on a loopback host, for development) with a host and without
// user information, query or fragment, in printable ASCII.
func WellKnownURL(id string) (string, error) {
	_, full, err := metadataURL(id)
	return full, err
}

// metadataURL is WellKnownURL, also returning the escaped path.
func metadataURL(id string) (path, full string, err error) {
	bad := func(msg string) (string, string, error) {
		return "", "", fmt.Errorf("resource identifier %q %s", id, msg)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return bad(fmt.Sprintf("has character %q; give it in plain ASCII, escaped", c))
		}
	}
	u, err := url.Parse(id)
	switch {
	case err != nil:
		return bad("is not a URL")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return bad("must be an https URL (http only on a loopback host)")
	case u.Host == "" || u.Opaque != "" || u.User != nil:
		return bad("must be an absolute URL with a host and no user information")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(id, "#"):
		return bad("must not have a query or fragment")
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	path = WellKnownPath + p
	return path, u.Scheme + "://" + u.Host + path, nil
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MetadataURL returns the URL of the guard's Protected Resource Metadata
// (RFC 9728 §3.1), as its challenges' resource_metadata attribute gives it;
// "" without Config.Resource.
func (g *Guard) MetadataURL() string { return g.prmURL }

// MetadataHandler returns a handler that serves the guard's Protected
// Resource Metadata document (RFC 9728 §2, §3.2) to GET and HEAD, whatever
// the request's path, for an API that mounts it itself. Guard.Handler
// already answers it at the well-known path; without Config.Resource the
// handler answers 404.
func (g *Guard) MetadataHandler() http.Handler {
	return http.HandlerFunc(g.serveMetadata)
}

func (g *Guard) serveMetadata(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if g.prmDoc == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", metadataMaxAge))
	h.Set("Content-Length", fmt.Sprint(len(g.prmDoc)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(g.prmDoc)
	}
}

// metadataDoc renders the metadata document of cfg; dpopAlgs are the
// DPoP proof algorithms accepted (nil: DPoP off).
func metadataDoc(cfg *Config, dpopAlgs []string) ([]byte, error) {
	b, err := json.Marshal(protectedResource{
		Resource:               cfg.Resource,
		AuthorizationServers:   []string{cfg.Issuer},
		ScopesSupported:        cfg.Catalog.Names(),
		BearerMethodsSupported: []string{"header"}, // RFC 6750 §2.1 only
		ResourceName:           cfg.ResourceName,
		DPoPSigningAlgs:        dpopAlgs,
		DPoPBoundRequired:      cfg.DPoP.Required,
	})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
