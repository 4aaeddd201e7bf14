// Command sharefiles is the cloud disk's /sharefiles FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("sharefiles") }
