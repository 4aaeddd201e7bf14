// Command dealsharefile is the cloud disk's /dealsharefile FastCGI program (see fcgi/README.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("dealsharefile") }
