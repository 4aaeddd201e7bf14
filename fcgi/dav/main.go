// Command dav is the cloud disk's WebDAV FastCGI program: the tree under
// /dav/ and the app passwords of /apppass (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("dav") }
