// Package web holds the console's embedded HTML templates and static
// assets.
//
// Every page template (templates/NAME.html, except base.html) is executed
// inside the base layout (base.html). A page defines the blocks "title"
// and "content"; it is executed with a *console.Page, so it reads its own
// data as .Data, the logged-in user (if any) as .User and the form CSRF
// token as .CSRF (a hidden field named "csrf_token").
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Templates returns the templates, at the root of the file system.
func Templates() fs.FS {
	sub, err := fs.Sub(templates, "templates")
	if err != nil {
		panic(err) // the directory is embedded, so this cannot happen
	}
	return sub
}

// Static returns the static assets (style.css), at the root of the file system.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return sub
}
