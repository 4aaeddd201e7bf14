// Command dealsharefile is the cloud disk's /dealsharefile FastCGI program (see docs/api.md).
package main

import "yunpan/fcgi/app"

func main() { app.Main("dealsharefile") }
