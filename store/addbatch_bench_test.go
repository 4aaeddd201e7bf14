package store_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"yunpan/store"
)

// BenchmarkAddUploaded records distinct 4 KiB uploads of one user, 8 at a
// time (as BenchmarkWeb's in-process uploads arrive), and reports
// MariaDB's CPU per upload (db-cpu-ms/op).
func BenchmarkAddUploaded(b *testing.B) {
	s, _ := open(b, rds.Addr())
	ctx := ctxT(b)
	pid := mariadbPID(b)
	var seq atomic.Int64
	b.SetParallelism(4)
	cpu0 := procCPU(b, pid)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			h := md5.Sum([]byte(strconv.FormatInt(n, 10)))
			m := hex.EncodeToString(h[:])
			_, err := s.AddUploaded(ctx, store.NewFile{User: "bench", MD5: m, FileName: fmt.Sprintf("f%d.bin", n),
				FileID: "group1/M00/00/00/" + m + ".bin", URL: "http://x/", Size: 4096, Type: "bin"})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(1000*(procCPU(b, pid)-cpu0)/float64(b.N), "db-cpu-ms/op")
}

func mariadbPID(tb testing.TB) string {
	p, err := os.ReadFile(filepath.Join(mdb.Dir, "pid"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(p))
}

// procCPU is the process's user and system CPU seconds.
func procCPU(tb testing.TB, pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}
