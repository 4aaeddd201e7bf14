package proto

import "fmt"

// StorageAddr is a storage as tracker query responses carry it.
type StorageAddr struct {
	IP   string
	Port int64
}

func (a StorageAddr) String() string { return fmt.Sprintf("%s:%d", a.IP, a.Port) }

// StoreResp is the answer to QUERY_STORE_* (docs/protocol.md §2.1): the group, the
// storages (one for the _ONE commands) and the store path index to echo.
type StoreResp struct {
	Group     string
	Storages  []StorageAddr
	PathIndex int8
}

// Encode lays the response out with IP fields of ipSize−1 bytes.
func (s *StoreResp) Encode(ipSize int) []byte {
	w := (&Buf{B: make([]byte, 0, GroupNameLen+len(s.Storages)*(ipSize-1+8)+1)}).Fixed(s.Group, GroupNameLen)
	for _, a := range s.Storages {
		w.Fixed(a.IP, ipSize-1).I64(a.Port)
	}
	return w.U8(byte(s.PathIndex)).B
}

// DecodeStoreResp parses a QUERY_STORE answer of either IP width.
func DecodeStoreResp(b []byte) (*StoreResp, error) {
	n := len(b) - GroupNameLen - 1
	ipSize := 0
	switch {
	case n > 0 && n%(IPv4Size-1+8) == 0:
		ipSize = IPv4Size
	case n > 0 && n%(IPv6Size-1+8) == 0:
		ipSize = IPv6Size
	default:
		return nil, fmt.Errorf("query store: body length %d: %w", len(b), StatusError(StatusEINVAL))
	}
	r := &Reader{B: b}
	s := &StoreResp{Group: r.Fixed(GroupNameLen)}
	for i := 0; i < n/(ipSize-1+8); i++ {
		s.Storages = append(s.Storages, StorageAddr{IP: r.Fixed(ipSize - 1), Port: r.I64()})
	}
	s.PathIndex = int8(r.U8())
	return s, nil
}

// FetchResp is the answer to QUERY_FETCH_ONE/QUERY_UPDATE/QUERY_FETCH_ALL.
type FetchResp struct {
	Group    string
	Storages []StorageAddr
}

func (f *FetchResp) Encode(ipSize int) []byte {
	w := (&Buf{B: make([]byte, 0, GroupNameLen+len(f.Storages)*(ipSize-1+8))}).Fixed(f.Group, GroupNameLen)
	for _, a := range f.Storages {
		w.Fixed(a.IP, ipSize-1).I64(a.Port)
	}
	return w.B
}

// DecodeFetchResp parses a fetch answer of either IP width.
func DecodeFetchResp(b []byte) (*FetchResp, error) {
	n := len(b) - GroupNameLen
	ipSize := 0
	switch {
	case n > 0 && n%(IPv4Size-1+8) == 0:
		ipSize = IPv4Size
	case n > 0 && n%(IPv6Size-1+8) == 0:
		ipSize = IPv6Size
	default:
		return nil, fmt.Errorf("query fetch: body length %d: %w", len(b), StatusError(StatusEINVAL))
	}
	r := &Reader{B: b}
	f := &FetchResp{Group: r.Fixed(GroupNameLen)}
	for i := 0; i < n/(ipSize-1+8); i++ {
		f.Storages = append(f.Storages, StorageAddr{IP: r.Fixed(ipSize - 1), Port: r.I64()})
	}
	return f, nil
}
