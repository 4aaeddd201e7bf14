// Command thumbs makes the missing thumbnails of the images already stored
// (see docs/api.md §1.16 and app.ThumbsMain):
//
//	thumbs -conf cfg.json [-workers 2] [-dry-run]
package main

import (
	"os"

	"yunpan/fcgi/app"
)

func main() { os.Exit(app.ThumbsMain(os.Args[1:], os.Stdout, os.Stderr)) }
