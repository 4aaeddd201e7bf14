// Command reg is the cloud disk's /reg FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("reg") }
