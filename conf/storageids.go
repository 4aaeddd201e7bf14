package conf

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MaxStorageID is the largest server ID storage_ids.conf allows.
const MaxStorageID = 16777215

// Storage rw modes in storage_ids.conf, normalised.
const (
	RWBoth  = "both"
	RWRead  = "read"
	RWWrite = "write"
	RWNone  = "none"
)

// StorageIDEntry is one line of storage_ids.conf:
// "<id> <group> <host>[:port] [rw=both|read|readonly|write|writeonly|none|all]".
type StorageIDEntry struct {
	ID    string   // decimal text as written, value 1..16777215
	Group string   // [A-Za-z0-9]{1,16}
	Addr  HostPort // one or two IPs/hostnames; Port defaults to 23000
	RW    string   // RWBoth, RWRead, RWWrite or RWNone
}

// IDNum is the numeric value of ID.
func (e StorageIDEntry) IDNum() uint32 {
	n, _ := strconv.ParseUint(e.ID, 10, 32)
	return uint32(n)
}

// IPs are the entry's hosts (one, or inner and outer).
func (e StorageIDEntry) IPs() []string { return e.Addr.Hosts }

// Line formats the entry the way FETCH_STORAGE_IDS (§2.9) sends it,
// without the trailing newline: "<id> <group> <ip>[:port][ rw=<mode>]".
// The port is written only when the config gave one.
func (e StorageIDEntry) Line() string {
	var b strings.Builder
	b.WriteString(e.ID)
	b.WriteByte(' ')
	b.WriteString(e.Group)
	b.WriteByte(' ')
	host := strings.Join(e.Addr.Hosts, ",")
	if e.Addr.Bracketed {
		host = "[" + host + "]"
	}
	b.WriteString(host)
	if e.Addr.PortSet {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Addr.Port))
	}
	if e.RW != "" && e.RW != RWBoth {
		b.WriteString(" rw=")
		b.WriteString(e.RW)
	}
	return b.String()
}

// LoadStorageIDs reads a storage_ids.conf file (docs/protocol.md §8.2).
func LoadStorageIDs(path string) ([]StorageIDEntry, error) {
	p := &parser{}
	data, err := p.read(path)
	if err != nil {
		return nil, fmt.Errorf("storage ids %s: %w", path, err)
	}
	ids, err := ParseStorageIDs(data)
	if err != nil {
		return nil, fmt.Errorf("storage ids %s: %w", path, err)
	}
	return ids, nil
}

// ParseStorageIDs parses storage_ids.conf text. IDs must be unique, and so
// must (group, host, port).
func ParseStorageIDs(data []byte) ([]StorageIDEntry, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("input of %d bytes exceeds the %d byte limit", len(data), MaxFileSize)
	}
	var out []StorageIDEntry
	seenID := map[uint32]int{}
	seenAddr := map[string]int{}
	lineNo := 0
	for len(data) > 0 {
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		lineNo++
		line := strings.Trim(string(raw), trimSet)
		if line == "" || line[0] == '#' {
			continue
		}
		e, err := parseStorageIDLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
		if prev, ok := seenID[e.IDNum()]; ok {
			return nil, fmt.Errorf("line %d: id %s already used on line %d", lineNo, e.ID, prev)
		}
		seenID[e.IDNum()] = lineNo
		for _, h := range e.Addr.Hosts {
			k := e.Group + " " + h + ":" + strconv.Itoa(e.Addr.Port)
			if prev, ok := seenAddr[k]; ok {
				return nil, fmt.Errorf("line %d: %s:%d in %s already listed on line %d", lineNo, h, e.Addr.Port, e.Group, prev)
			}
			seenAddr[k] = lineNo
		}
		out = append(out, e)
	}
	return out, nil
}

func parseStorageIDLine(line string) (StorageIDEntry, error) {
	f := strings.Fields(line)
	if len(f) < 3 || len(f) > 4 {
		return StorageIDEntry{}, fmt.Errorf("%q: want \"<id> <group> <host>[:port] [rw=mode]\"", cut(line, 80))
	}
	e := StorageIDEntry{ID: f[0], Group: f[1], RW: RWBoth}
	if strings.Trim(e.ID, "0123456789") != "" {
		return e, fmt.Errorf("id %q: not a decimal number", cut(e.ID, 40))
	}
	if n, err := strconv.ParseUint(e.ID, 10, 64); err != nil || n < 1 || n > MaxStorageID {
		return e, fmt.Errorf("id %q: must be 1..%d", cut(e.ID, 40), MaxStorageID)
	}
	if !validGroup(e.Group) {
		return e, fmt.Errorf("group %q: must be 1 to 16 letters or digits", cut(e.Group, 40))
	}
	hp, err := ParseHostPort(f[2], DefaultStoragePort)
	if err != nil {
		return e, err
	}
	e.Addr = hp
	if len(f) == 4 {
		mode, ok := strings.CutPrefix(f[3], "rw=")
		if !ok {
			return e, fmt.Errorf("%q: the fourth field must be rw=<mode>", cut(f[3], 40))
		}
		switch strings.ToLower(mode) {
		case "both", "all":
			e.RW = RWBoth
		case "read", "readonly":
			e.RW = RWRead
		case "write", "writeonly":
			e.RW = RWWrite
		case "none":
			e.RW = RWNone
		default:
			return e, fmt.Errorf("rw=%q: want both, read, readonly, write, writeonly, none or all", cut(mode, 40))
		}
	}
	return e, nil
}

// validGroup is the group-name rule [A-Za-z0-9]{1,16}.
func validGroup(s string) bool {
	if len(s) < 1 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
