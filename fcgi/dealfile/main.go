// Command dealfile is the cloud disk's /dealfile FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("dealfile") }
