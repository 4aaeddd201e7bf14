package proto

import (
	"bytes"
	"sort"
)

// Metadata separators (docs/protocol.md §3.8).
const (
	MetaRecordSep byte = 0x01
	MetaFieldSep  byte = 0x02
)

// Meta is one metadata item.
type Meta struct {
	Name, Value string
}

// DecodeMetadata parses `name 0x02 value` records separated by 0x01. Records
// without a 0x02 are skipped; names and values are cut to their limits.
func DecodeMetadata(b []byte) []Meta {
	var out []Meta
	if len(b) == 0 {
		return nil
	}
	for _, rec := range bytes.Split(b, []byte{MetaRecordSep}) {
		i := bytes.IndexByte(rec, MetaFieldSep)
		if i < 0 {
			continue
		}
		name, value := rec[:i], rec[i+1:]
		if len(name) > MaxMetaNameLen {
			name = name[:MaxMetaNameLen]
		}
		if len(value) > MaxMetaValueLen {
			value = value[:MaxMetaValueLen]
		}
		out = append(out, Meta{Name: string(name), Value: string(value)})
	}
	return out
}

// EncodeMetadata writes records in the given order with no trailing separator.
func EncodeMetadata(ms []Meta) []byte {
	var b []byte
	for i, m := range ms {
		if i > 0 {
			b = append(b, MetaRecordSep)
		}
		b = append(b, m.Name...)
		b = append(b, MetaFieldSep)
		b = append(b, m.Value...)
	}
	return b
}

// MergeMetadata returns old with every item of upd replacing one of the same
// name or added, sorted by name (byte order) as the storage keeps them.
// With overwrite, old is ignored.
func MergeMetadata(old, upd []Meta, overwrite bool) []Meta {
	m := map[string]string{}
	if !overwrite {
		for _, x := range old {
			m[x.Name] = x.Value
		}
	}
	for _, x := range upd {
		m[x.Name] = x.Value
	}
	out := make([]Meta, 0, len(m))
	for k, v := range m {
		out = append(out, Meta{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
