package binlog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"yunpan/dfs/fileid"
)

// MetaSuffix ends the name of a file's metadata file (<name>-m).
const MetaSuffix = "-m"

// LiveFile is a file a storage holds according to its binlog.
type LiveFile struct {
	Remote  string // logic filename "Mxx/HH/HH/<name>"
	Created int64  // create time from the name (§6.10); the record's time when the name does not decode
}

// ListStats counts what ListLiveFiles read and left out.
type ListStats struct {
	Binlogs   int // binlog files read
	Records   int // well-formed records
	Malformed int // unparsable lines, torn tails and names that are not remote filenames
	Metadata  int // live metadata files (<name>-m) left out
	Missing   int // live by the binlog but absent from disk
}

// ListLiveFiles replays the binlogs under syncDir (base_path/data/sync,
// binlog.NNN and binlog.NNN.gz in index order, §5.1) and returns the files
// created there — by an upload on this storage (C, L) or received from a
// replica (c, l), renamed (R/r) — and not deleted afterwards (D/d), that are
// present under their store path, in creation order. Metadata files of live
// files are left out: they are no file IDs. It only reads, so it is safe
// while the storage runs; a record still being written at the end of the
// current binlog is skipped (the next run sees it).
func ListLiveFiles(syncDir string, storePaths []string) ([]LiveFile, ListStats, error) {
	var st ListStats
	files, err := Files(syncDir)
	if err != nil {
		return nil, st, err
	}
	type entry struct {
		ts  int64
		seq int
	}
	live := map[string]entry{}
	seq := 0
	for _, name := range files {
		st.Binlogs++
		err := ReadFile(filepath.Join(syncDir, name), func(line string, complete bool) {
			if !complete {
				st.Malformed++
				return
			}
			r, err := Parse(line)
			if err != nil {
				st.Malformed++
				return
			}
			st.Records++
			op := r.Op
			if op >= 'a' && op <= 'z' { // a replica's record counts the same
				op -= 'a' - 'A'
			}
			switch op {
			case OpCreate, OpLink:
				seq++
				live[r.Name] = entry{r.TS, seq}
			case OpDelete:
				delete(live, r.Name)
			case OpRename:
				delete(live, r.Extra) // the old appender name
				seq++
				live[r.Name] = entry{r.TS, seq}
			}
			// U, A, M, T change a file's content, not whether it exists.
		})
		if err != nil {
			return nil, st, err
		}
	}
	out := make([]LiveFile, 0, len(live))
	seqs := make(map[string]int, len(live))
	for name, e := range live {
		if base, ok := strings.CutSuffix(name, MetaSuffix); ok {
			if _, isMeta := live[base]; isMeta {
				st.Metadata++
				continue
			}
		}
		r, err := fileid.ParseRemote(name, len(storePaths))
		if err != nil {
			st.Malformed++
			continue
		}
		rel := r.RelPath()
		if _, t, err := fileid.ParseTrunk(name); err == nil {
			// A trunk-resident file lives in its trunk file.
			rel = fileid.TrunkFileRelPath(r.High, r.Low, t.TrunkID)
		}
		fi, err := os.Lstat(filepath.Join(storePaths[r.StorePath], "data", filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			st.Missing++
			continue
		}
		if err != nil {
			return nil, st, fmt.Errorf("list files: %w", err)
		}
		if fi.IsDir() {
			st.Missing++
			continue
		}
		created := e.ts
		if info, _, err := fileid.Decode(name); err == nil {
			created = info.Timestamp
		}
		out = append(out, LiveFile{Remote: name, Created: created})
		seqs[name] = e.seq
	}
	sort.Slice(out, func(i, j int) bool { return seqs[out[i].Remote] < seqs[out[j].Remote] })
	return out, st, nil
}

// Files lists binlog.NNN[.gz] in syncDir by index. When both the
// plain and the gzipped file of one index exist (a compression that
// stopped half-way), the plain one is read.
func Files(syncDir string) ([]string, error) {
	ents, err := os.ReadDir(syncDir)
	if err != nil {
		return nil, fmt.Errorf("binlog dir: %w", err)
	}
	byIndex := map[int]string{}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "binlog.")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		num, gz := strings.CutSuffix(rest, ".gz")
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || len(num) < 3 || strings.Trim(num, "0123456789") != "" {
			continue // binlog_index.dat, binlog.index and the like
		}
		if prev, seen := byIndex[n]; !seen || !gz && strings.HasSuffix(prev, ".gz") {
			byIndex[n] = e.Name()
		}
	}
	idx := make([]int, 0, len(byIndex))
	for n := range byIndex {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = byIndex[n]
	}
	return out, nil
}

// ReadFile calls fn with each line of a binlog file (without its
// newline); complete is false for a line longer than a record or a last
// line without its newline.
func ReadFile(path string, fn func(line string, complete bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open binlog: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("binlog %s: %w", filepath.Base(path), err)
		}
		defer zr.Close()
		r = zr
	}
	br := bufio.NewReaderSize(r, 64<<10)
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if tooLong {
				tooLong = false
				fn("", false)
			} else {
				fn(string(chunk[:len(chunk)-1]), true)
			}
		case errors.Is(err, bufio.ErrBufferFull):
			tooLong = true // skip up to the next newline
		case errors.Is(err, io.EOF):
			if len(chunk) > 0 || tooLong {
				fn("", false)
			}
			return nil
		default:
			return fmt.Errorf("read binlog %s: %w", filepath.Base(path), err)
		}
	}
}
