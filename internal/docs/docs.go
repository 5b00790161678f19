// Package docs serves the protected API's reference, /docs: Swagger UI
// (vendored and embedded, see internal/web/swagger-ui) on the API's OpenAPI
// document (api.openapi), rewritten so that its Authorize dialog gets tokens
// from Gatehouse and its "Try it" calls go through the gateway.
//
// Routes, all under /docs (see [Docs.Register]):
//
//	GET /docs                        the reference page
//	GET /docs/openapi.json           the rewritten document, as JSON
//	GET /docs/oauth2-redirect.html   where the authorization code flow returns
//	GET /docs/assets/{digest}/{file} Swagger UI and the page's own files, cached for a year
package docs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/web"
)

// Path is where the reference page is served.
const Path = "/docs"

// Paths of the other routes.
const (
	PathDocument = Path + "/openapi.json"
	PathRedirect = Path + "/oauth2-redirect.html"
	pathAssets   = Path + "/assets/"
)

// Options configure the reference. The zero value serves no reference:
// every /docs route answers 404 with a page that says how to configure it.
type Options struct {
	// Document is the API's OpenAPI document (3.0 or 3.1, YAML or JSON),
	// as read from api.openapi; nil: no reference.
	Document []byte
	// Issuer is the issuer URL: the base of the token and authorization
	// endpoints the document's oauth2 flows are rewritten to, and of the
	// redirect URI of the authorization code flow.
	Issuer string
	// ServerURL is where "Try it" calls go: the gateway's public URL and
	// base path. "" keeps the document's servers.
	ServerURL string
}

// Docs serves the API reference.
type Docs struct {
	document []byte // the rewritten document, JSON
	page     []byte // the reference page
	redirect []byte // oauth2-redirect.html
	csp      string // the reference page's Content-Security-Policy
	assets   map[string]asset
	digest   string // of every asset: the assets' path segment
}

type asset struct {
	data        []byte
	contentType string
}

// assetFiles are the files served under /docs/assets/{digest}/, by the
// file systems they come from.
var assetFiles = []struct {
	fsys  func() fs.FS
	names []string
}{
	{web.SwaggerUI, []string{"swagger-ui-bundle.js", "swagger-ui.css", "oauth2-redirect.js"}},
	{web.Docs, []string{"init.js", "docs.css"}},
}

// New prepares the reference: it rewrites the document once, here.
func New(opts Options) (*Docs, error) {
	d := &Docs{}
	if opts.Document == nil {
		return d, nil
	}
	doc, err := decode(opts.Document)
	if err != nil {
		return nil, fmt.Errorf("API reference: read the OpenAPI document: %w", err)
	}
	issuer := strings.TrimSuffix(opts.Issuer, "/")
	origins := rewrite(doc, issuer, strings.TrimSuffix(opts.ServerURL, "/"))
	if d.document, err = json.Marshal(doc); err != nil {
		return nil, fmt.Errorf("API reference: write the OpenAPI document as JSON: %w", err)
	}

	d.assets = map[string]asset{}
	h := sha256.New()
	for _, src := range assetFiles {
		fsys := src.fsys()
		for _, name := range src.names {
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, err
			}
			h.Write([]byte(name))
			h.Write(data)
			d.assets[name] = asset{data: data, contentType: mime.TypeByExtension(path.Ext(name))}
		}
	}
	d.digest = hex.EncodeToString(h.Sum(nil))[:16]
	if d.redirect, err = fs.ReadFile(web.SwaggerUI(), "oauth2-redirect.html"); err != nil {
		return nil, err
	}
	// The vendored page loads its script relative to itself; it is served
	// with the other assets.
	d.redirect = bytes.Replace(d.redirect, []byte(`src="oauth2-redirect.js"`),
		[]byte(`src="`+pathAssets+d.digest+`/oauth2-redirect.js"`), 1)

	tmpl, err := template.ParseFS(web.Docs(), "index.html")
	if err != nil {
		return nil, err
	}
	title, _ := doc.obj("info").get("title").(string)
	if title == "" {
		title = "API"
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, map[string]string{
		"Title":       title,
		"Assets":      pathAssets + d.digest,
		"SpecURL":     PathDocument,
		"RedirectURL": issuer + PathRedirect,
	}); err != nil {
		return nil, err
	}
	d.page = page.Bytes()
	d.csp = pageCSP(origins)
	return d, nil
}

// pageCSP is the reference page's Content-Security-Policy: scripts, styles
// and images from Gatehouse only (Swagger UI sets style attributes, and
// draws icons as data: images), fetches to Gatehouse and the API's servers.
func pageCSP(origins []string) string {
	connect := []string{"'self'"}
	for _, o := range origins {
		if o != "" && !slices.Contains(connect, o) {
			connect = append(connect, o)
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"font-src 'self'; connect-src " + strings.Join(connect, " ") + "; " +
		"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
}

// Register mounts the reference's routes on mux. A route of another
// package under /docs/ (say GET /docs/postman.json) is registered on the
// same mux next to these, and wins over the catch-all.
func (d *Docs) Register(mux *http.ServeMux) {
	if d.document == nil {
		mux.HandleFunc(Path, notConfigured)
		mux.HandleFunc(Path+"/", notConfigured)
		return
	}
	for p, h := range map[string]http.HandlerFunc{
		Path:                           d.servePage,
		PathDocument:                   d.serveDocument,
		PathRedirect:                   d.serveRedirect,
		pathAssets + "{digest}/{file}": d.serveAsset,
	} {
		mux.HandleFunc("GET "+p, h) // GET also matches HEAD
		mux.HandleFunc(p, methodNotAllowed)
	}
	mux.HandleFunc(Path+"/", notFound)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// Handler returns a handler of the reference's routes alone.
func (d *Docs) Handler() http.Handler {
	mux := http.NewServeMux()
	d.Register(mux)
	return mux
}

// pageHeaders are the headers of the reference's HTML pages.
func pageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (d *Docs) servePage(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w, d.csp)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(d.page)
}

func (d *Docs) serveDocument(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	w.Write(d.document)
}

// serveRedirect serves the page the authorization server sends the
// browser back to with the code (in its query): it hands the code to the
// reference page that opened it and closes. It is never stored, and no
// request it makes carries its URL as referrer.
func (d *Docs) serveRedirect(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w, "default-src 'none'; script-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(d.redirect)
}

func (d *Docs) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := d.assets[r.PathValue("file")]
	if !ok || r.PathValue("digest") != d.digest {
		notFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	// The path names the content: it never changes.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(a.data)
}

const notConfiguredPage = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>No API reference</title>
<p>No API reference: Gatehouse serves one here when <code>api.openapi</code> (<code>--openapi</code>, <code>GATEHOUSE_OPENAPI</code>) names the API's OpenAPI document.</p>
`

const notFoundPage = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Not found</title>
<p>Not found. The API reference is at <a href="/docs">/docs</a>.</p>
`

func notConfigured(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w, "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(notConfiguredPage))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	pageHeaders(w, "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(notFoundPage))
}
