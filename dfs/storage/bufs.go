package storage

// Buffers for file content. A sync.Pool is emptied at every garbage
// collection, and the pages of the new buffer that replaces a dropped one
// are faulted in again by the first read into it: with pooled buffers the
// pread that checks a 64 KiB download took 37 µs of CPU, five times the
// copy's own cost. A freeList keeps a bounded number of buffers for the
// daemon's life instead; past that number, buffers come and go as garbage.

// freeList holds up to cap(c) buffers of size bytes.
type freeList struct {
	c    chan *[]byte
	size int
}

func newFreeList(size, keep int) *freeList {
	return &freeList{c: make(chan *[]byte, keep), size: size}
}

func (l *freeList) get() *[]byte {
	select {
	case bp := <-l.c:
		return bp
	default:
		b := make([]byte, l.size)
		return &b
	}
}

func (l *freeList) put(bp *[]byte) {
	select {
	case l.c <- bp:
	default:
	}
}
