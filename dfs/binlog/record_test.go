package binlog

import (
	"strconv"
	"testing"
)

// FuzzParse: any line parses or fails cleanly, and a parsed record
// prints as a line that parses to the same record.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1700000000 C M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg",
		"1700000100 A M00/00/01/wKgBZGVT8QCEAAd3AAAAAN6tvu8xxxxxxx 0 4096",
		"1700000300 R M00/00/01/new M00/00/01/old",
		"1 c x", "", "x C y", "-1 C y", "1 CC y", "1 C ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		back := strconv.FormatInt(r.TS, 10) + " " + string([]byte{r.Op}) + " " + r.Name
		if r.Extra != "" {
			back += " " + r.Extra
		}
		r2, err := Parse(back)
		if err != nil || r2 != r {
			t.Fatalf("%q parsed to %+v, prints %q, parses to %+v (%v)", line, r, back, r2, err)
		}
		r.TwoInts()
	})
}
