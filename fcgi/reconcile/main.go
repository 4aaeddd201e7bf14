// Command reconcile queues for deletion the DFS files the cloud disk's
// database does not know (see docs/api.md §4.6 and app.ReconcileMain):
//
//	fdfs_list_files storage.conf | reconcile -conf cfg.json [-grace 1h] [-dry-run] [-gc]
package main

import (
	"os"

	"yunpan/fcgi/app"
)

func main() { os.Exit(app.ReconcileMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
