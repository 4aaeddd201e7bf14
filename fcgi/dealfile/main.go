// Command dealfile is the cloud disk's /dealfile FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("dealfile") }
