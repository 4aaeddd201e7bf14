// Package binlog reads a storage's binlog: the records
// `<ts> <op> <logic_filename>[ <extra>]` of base_path/data/sync/binlog.NNN
// (spec §5.1–5.2), and the files a binlog says a storage holds. The storage
// writes and replays its binlog with it; fdfs_list_files reads one without
// the storage daemon.
package binlog

import (
	"fmt"
	"strconv"
	"strings"
)

// Operation letters for operations that originate on the storage writing
// the record (§5.2); records received from a replica use the lower-case
// letter.
const (
	OpCreate   byte = 'C'
	OpDelete   byte = 'D'
	OpUpdate   byte = 'U'
	OpAppend   byte = 'A'
	OpModify   byte = 'M'
	OpTruncate byte = 'T'
	OpLink     byte = 'L'
	OpRename   byte = 'R'
)

// MaxRecord is the longest record line, newline included.
const MaxRecord = 256

// Name is the file name of binlog index n.
func Name(n int) string { return fmt.Sprintf("binlog.%03d", n) }

// Record is one parsed binlog line.
type Record struct {
	TS    int64
	Op    byte
	Name  string // logic filename (for L/R the link / new name)
	Extra string // the rest: "<offset> <length>", "<old> <new>", or a second name
}

// Parse splits a line (without its newline) into the three columns of
// §5.2: timestamp, op, and the rest, whose first space separates the name
// from the extra part.
func Parse(line string) (Record, error) {
	tsText, rest, ok1 := strings.Cut(line, " ")
	opText, rest, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || len(opText) != 1 || rest == "" {
		return Record{}, fmt.Errorf("binlog record %q: not '<ts> <op> <name>'", Clip(line))
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts < 0 {
		return Record{}, fmt.Errorf("binlog record %q: bad timestamp", Clip(line))
	}
	r := Record{TS: ts, Op: opText[0], Name: rest}
	if name, extra, ok := strings.Cut(rest, " "); ok {
		r.Name, r.Extra = name, extra
	}
	if r.Name == "" {
		return Record{}, fmt.Errorf("binlog record %q: empty file name", Clip(line))
	}
	return r, nil
}

// TwoInts parses the "<a> <b>" extra of A/M/T records.
func (r Record) TwoInts() (a, b int64, err error) {
	x, y, ok := strings.Cut(r.Extra, " ")
	if ok {
		if a, err = strconv.ParseInt(x, 10, 64); err == nil {
			b, err = strconv.ParseInt(y, 10, 64)
		}
	}
	if !ok || err != nil || a < 0 || b < 0 {
		return 0, 0, fmt.Errorf("binlog record %c %s: extra %q is not two numbers", r.Op, r.Name, Clip(r.Extra))
	}
	return a, b, nil
}

// Clip shortens text quoted in an error message.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
