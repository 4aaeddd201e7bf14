// Command sharefiles is the cloud disk's /sharefiles FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("sharefiles") }
