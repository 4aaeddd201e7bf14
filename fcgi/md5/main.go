// Command md5 is the cloud disk's /md5 FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("md5") }
