// Command upload is the cloud disk's /upload FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("upload") }
