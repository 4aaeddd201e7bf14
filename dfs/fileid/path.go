package fileid

import "strconv"

// PJW is the P.J. Weinberger hash as FastDFS computes it (§6.5): signed 32-bit
// arithmetic with an arithmetic right shift. The result is never negative.
func PJW(s string) int32 {
	var h int32
	for i := 0; i < len(s); i++ {
		h = pjwStep(h, s[i])
	}
	return h
}

func pjwStep(h int32, c byte) int32 {
	h = h<<4 + int32(c)
	// t>>24 sign-extends when bit 31 is set, flipping bits 8–27 too (as the C code does).
	if t := h & -0x10000000; t != 0 { // -0x10000000 is 0xF0000000 as int32
		h = (h ^ t>>24) & 0x0FFFFFFF
	}
	return h
}

// DistributeRandom is the HH/HH choice of file_distribute_path_mode=1 (§6.5),
// hashed over the provisional 27-character base64 name. subdirCount ≤ 0 gives 0, 0.
func DistributeRandom(provisionalB64 string, subdirCount int) (high, low int) {
	if subdirCount <= 0 {
		return 0, 0
	}
	n := int(PJW(provisionalB64)) & 0xFFFF // PJW ≥ 0, so this is "mod 65536"
	return (n >> 8) % subdirCount, (n & 0xFF) % subdirCount
}

// RoundRobin is the HH/HH state of file_distribute_path_mode=0 (§6.5), kept by
// a storage in storage_stat.dat as dist_path_index_high/low and
// dist_write_file_count. It is not safe for concurrent use.
type RoundRobin struct {
	High, Low, Count int
}

// Next returns the directory for a new file and advances the state: after
// rotateCount files low moves on; when low reaches subdirCount it wraps and
// high moves on, wrapping to 0 as well. Out-of-range state is reset to 0.
func (r *RoundRobin) Next(rotateCount, subdirCount int) (high, low int) {
	if subdirCount <= 0 {
		return 0, 0
	}
	if r.High < 0 || r.High >= subdirCount {
		r.High = 0
	}
	if r.Low < 0 || r.Low >= subdirCount {
		r.Low = 0
	}
	high, low = r.High, r.Low
	r.Count++
	if r.Count >= rotateCount {
		r.Count = 0
		r.Low++
		if r.Low >= subdirCount {
			r.Low = 0
			r.High++
			if r.High >= subdirCount {
				r.High = 0
			}
		}
	}
	return high, low
}

// TrunkFileRelPath is the trunk file holding trunk-resident files (§6.9),
// relative to <store_path>/data: "HH/HH/<trunk id, 6 digits>".
func TrunkFileRelPath(high, low int, trunkID int32) string {
	id := strconv.Itoa(int(trunkID))
	for len(id) < 6 {
		id = "0" + id
	}
	return hex2(high) + "/" + hex2(low) + "/" + id
}
