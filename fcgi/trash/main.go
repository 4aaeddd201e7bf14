// Command trash is the cloud disk's /trash FastCGI program: list, restore,
// delete for good and empty the trash (see docs/api.md §1.13).
package main

import "yunpan/fcgi/app"

func main() { app.Main("trash") }
