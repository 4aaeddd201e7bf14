// Command login is the cloud disk's /login and /logout FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("login") }
