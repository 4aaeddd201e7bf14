// Package proto holds the FastDFS V6 wire format: the 10-byte packet header,
// command and status codes, fixed-width text fields and the fixed-layout
// structs that trackers, storages and clients exchange. It does no I/O beyond
// reading and writing whole headers and bodies on an io.Reader/io.Writer, so
// every layout here can be tested byte for byte against internal/vectors/testdata.
//
// The contract is docs/protocol.md (§1, §2.3, §2.4, §4). Section numbers (§)
// in this package refer to it.
package proto
