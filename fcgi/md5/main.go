// Command md5 is the cloud disk's /md5 FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("md5") }
