package web

import (
	"embed"
	"io/fs"
)

// apiReference holds the vendored Swagger UI (see swagger-ui/README.md); docs is
// Gatehouse's own API reference page and initializer around it.
//
//go:embed swagger-ui docs
var apiReference embed.FS

// SwaggerUI returns the vendored Swagger UI files (swagger-ui-bundle.js,
// swagger-ui.css, oauth2-redirect.html, oauth2-redirect.js, licences and
// VERSION), at the root of the file system.
func SwaggerUI() fs.FS {
	sub, err := fs.Sub(apiReference, "swagger-ui")
	if err != nil {
		panic(err)
	}
	return sub
}

// Docs returns the API reference page's own files: index.html (a
// template), init.js and docs.css, at the root of the file system.
func Docs() fs.FS {
	sub, err := fs.Sub(apiReference, "docs")
	if err != nil {
		panic(err)
	}
	return sub
}
