// Command image is the cloud disk's /image FastCGI program: the image
// host's direct links and thumbnails (see docs/api.md §1.16).
package main

import "yunpan/fcgi/app"

func main() { app.Main("image") }
