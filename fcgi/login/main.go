// Command login is the cloud disk's /login and /logout FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("login") }
