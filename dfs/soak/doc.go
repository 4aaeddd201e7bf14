// Package soak holds the bounded soak test of the whole system (`make soak`):
// mixed DFS-client and web load on a 2-group × 2-storage cluster while one
// storage at a time is SIGKILLed and restarted, then a check that every
// acknowledged, undeleted file is identical on every replica, every
// acknowledged delete is gone everywhere, and the database and the DFS
// agree. The test is behind the `soak` build tag so `go test ./...` never
// runs it:
//
//	YUNPAN_BIN=$PWD/bin go test -tags soak -run TestSoak -timeout 30m -v ./dfs/soak -args -duration=5m
package soak
