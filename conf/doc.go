// Package conf reads FastDFS-style configuration: the libfastcommon ini
// syntax (ini.go, §8.1), tracker.conf, storage.conf and client.conf with
// FastDFS's code defaults and validation (§8.2–8.4), storage_ids.conf,
// reserved_storage_space (§7.4) and the tracker parameter text (§2.9).
// Section numbers (§) refer to docs/protocol.md.
//
// Sample files for a local install sit next to this package: tracker.conf,
// storage.conf, client.conf and storage_ids.conf.
package conf
