// Command link is the cloud disk's /link FastCGI program: share links
// (see docs/api.md §1.14).
package main

import "yunpan/fcgi/app"

func main() { app.Main("link") }
