package store

import (
	"fmt"
	"strings"
	"unicode"
)

// FoldName is the key under which user names are unique: the simple
// Unicode case fold of every rune (the relation strings.EqualFold uses),
// written in lower case. "alice", "ALICE" and "Alice" fold alike.
func FoldName(s string) string {
	return strings.Map(func(r rune) rune {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		return unicode.ToLower(low)
	}, s)
}

// ErrBadName is the ErrInvalid of a name with invisible characters.
var ErrBadName = fmt.Errorf("%w: names may not contain control, bidi-override or zero-width characters", ErrInvalid)

// invisible reports runes that render as nothing or reorder the text
// around them: control characters (Cc), format characters (Cf: the bidi
// embeddings, overrides and isolates, LRM/RLM, zero-width space and
// joiners, the BOM, soft hyphen, tags) and the line and paragraph
// separators. In a name they let one file or user pose as another.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// CheckNewName refuses a name with invisible characters (ErrBadName).
func CheckNewName(s string) error {
	if strings.IndexFunc(s, invisible) >= 0 {
		return ErrBadName
	}
	return nil
}

// CheckNewFileName is the rule for names that create or publish an entry
// (upload, instant upload, save, share): ValidFileName and no invisible
// characters. Entries stored before the rule keep their names and can
// still be listed, downloaded and deleted.
func CheckNewFileName(s string) error {
	if !ValidFileName(s) {
		return fmt.Errorf("%w: file names are 1 to %d bytes of UTF-8 without '/' or '\\', not \".\" or \"..\"", ErrInvalid, MaxFileName)
	}
	return CheckNewName(s)
}
