// Command upload is the cloud disk's /upload FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("upload") }
