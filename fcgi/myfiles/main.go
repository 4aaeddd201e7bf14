// Command myfiles is the cloud disk's /myfiles FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("myfiles") }
