// Package kioskui holds hallctl's browser apps — the self-service kiosk,
// the window clerk console, the manager console and the hall screen — as
// static files (plain HTML, CSS and JavaScript, no build step, no CDN),
// embedded in the binary. hallctl/web serves them; their browser tests
// live in hallctl/web.
package kioskui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Apps is the file tree served at the web root: index.html, assets/,
// kiosk/, clerk/, manager/ and screen/.
func Apps() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}
