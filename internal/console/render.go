package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/web"
)

// Page is what every template is executed with.
type Page struct {
	Data any         // the page's own data, as passed to Render
	User *store.User // the logged-in user, nil if none
	CSRF string      // the value for hidden "csrf_token" fields
	// HasApps and HasKeys: this console serves the apps and signing keys
	// pages (for the navigation).
	HasApps, HasKeys bool
}

// pages holds every page template, each joined with the base layout.
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	tfs := web.Templates()
	names, err := fs.Glob(tfs, "*.html")
	if err != nil {
		return nil, err
	}
	// Files named _*.html are partials: shared by every page, not pages.
	shared := []string{"base.html"}
	for _, file := range names {
		if strings.HasPrefix(file, "_") {
			shared = append(shared, file)
		}
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, file := range names {
		if file == "base.html" || strings.HasPrefix(file, "_") {
			continue
		}
		t, err := template.New("base.html").Option("missingkey=error").Funcs(funcs).ParseFS(tfs, append(shared, file)...)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", file, err)
		}
		p.byName[strings.TrimSuffix(file, path.Ext(file))] = t
	}
	return p, nil
}

// funcs are the helpers every template may call.
var funcs = template.FuncMap{
	"join": strings.Join,
	"has":  slices.Contains[[]string],
	// when formats a time for tables: UTC, to the minute; "" for zero.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

// setSecurityHeaders sets the headers every console page carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// Render executes the embedded template internal/web/templates/NAME.html
// inside the base layout with a *Page holding data, the logged-in user and
// the CSRF token, and writes it with status and the security headers
// (Content-Security-Policy, X-Frame-Options: DENY, Referrer-Policy,
// Cache-Control: no-store, X-Content-Type-Options). An unknown name or a
// failing template is logged and answered with a plain 500.
func (c *Console) Render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	p := &Page{Data: data, CSRF: c.CSRFToken(r), HasApps: c.clients != nil, HasKeys: c.keys != nil}
	if u, ok := c.User(r); ok {
		p.User = &u
	}
	c.render(w, status, name, p)
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p *Page) {
	h := w.Header()
	setSecurityHeaders(h)
	t := c.pages.byName[name]
	var buf bytes.Buffer
	err := fmt.Errorf("no template %q", name)
	if t != nil {
		err = t.Execute(&buf, p)
	}
	if err != nil {
		c.log.Error("render page", "template", name, "err", err)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "internal server error")
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorData is the data of error.html.
type errorData struct{ Title, Message string }

// renderError shows the error page.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	c.Render(w, r, status, "error", errorData{Title: title, Message: msg})
}
