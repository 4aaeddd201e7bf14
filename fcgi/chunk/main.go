// Command chunk is the cloud disk's /chunk FastCGI program: chunked,
// resumable uploads of big files (see docs/api.md §1.15).
package main

import "yunpan/fcgi/app"

func main() { app.Main("chunk") }
