// Command download is the cloud disk's /download FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("download") }
