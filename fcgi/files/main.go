// Command files is the cloud disk's /files FastCGI program: folders,
// rename, move, delete to the trash, search and usage (see docs/api.md §1.12).
package main

import "yunpan/fcgi/app"

func main() { app.Main("files") }
