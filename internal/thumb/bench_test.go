package thumb_test

import (
	"syscall"
	"testing"
	"time"

	"yunpan/internal/thumb"
	"yunpan/internal/thumb/thumbtest"
)

// BenchmarkMake12MP: both thumbnails of a 12-megapixel (4000x3000) JPEG,
// decoding included; reports images/s and CPU seconds per image.
func BenchmarkMake12MP(b *testing.B) {
	src := thumbtest.JPEG(4000, 3000, 6)
	b.SetBytes(int64(len(src)))
	cpu0 := cpuTime()
	start := time.Now()
	for b.Loop() {
		if _, err := thumb.Make(src, thumb.DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "images/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/image")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
