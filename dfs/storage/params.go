package storage

import (
	"fmt"
	"strconv"
	"time"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// params are the cluster settings a storage learns from the tracker's
// PARAMETER_REQ answer (docs/protocol.md §2.9, §8.3 last paragraph).
type params struct {
	useStorageID        bool
	idTypeInFilename    string // "ip" or "id"
	responseIPSize      int    // 16 or 46: IP width of QUERY_FILE_INFO answers
	ipChangedAutoAdjust bool
	storePathMode       int // 0 round robin, 2 load balance
	reserved            conf.Reserved
	useTrunkFile        bool
	trunk               trunkAllocConfig // slot sizes when useTrunkFile (subdirs, paths, hold set by the storage)
	trunkAdvance        trunkAdvance     // trunk files created ahead, when useTrunkFile
	slaveUseLink        bool
}

// trunkAdvance is trunk_create_file_advance and its companions: at the
// time of day base, then every interval, the trunk server creates trunk
// files until the free trunk space reaches threshold bytes.
type trunkAdvance struct {
	on        bool
	hour, min int
	interval  time.Duration
	threshold int64
}

// defaultParams apply until a tracker has answered. No space is reserved
// then: the tracker's value is authoritative and arrives with the first
// session.
var defaultParams = params{
	idTypeInFilename:    "ip",
	responseIPSize:      proto.IPv4Size,
	ipChangedAutoAdjust: true,
}

// parseParams reads the `key=value\n` text of a PARAMETER_REQ answer
// (#include lines are not followed: the text comes from the network).
func parseParams(body []byte) (*params, error) {
	tp, err := conf.ParseParameters(body)
	if err != nil {
		return nil, err
	}
	p := &params{
		useStorageID:        tp.UseStorageID,
		idTypeInFilename:    tp.IDTypeInFilename,
		responseIPSize:      tp.ResponseIPAddrSize,
		ipChangedAutoAdjust: tp.StorageIPChangedAutoAdjust,
		storePathMode:       tp.StorePath,
		reserved:            tp.ReservedSpace,
		useTrunkFile:        tp.UseTrunkFile,
		slaveUseLink:        tp.StoreSlaveFileUseLink,
	}
	if p.useTrunkFile {
		p.trunk = trunkAllocConfig{
			fileSize: int32(min(max(tp.TrunkFileSize, 1<<20), 1<<30)),
			slotMin:  int32(min(max(tp.SlotMinSize, trunkHeaderLen), 1<<30)),
			slotMax:  int32(min(max(tp.SlotMaxSize, 0), 1<<30)),
			align:    int32(min(max(tp.TrunkAllocAlignmentSize, 0), 1<<20)),
			merge:    tp.TrunkFreeSpaceMerge,
		}
		var h, m int
		if _, err := fmt.Sscanf(tp.TrunkCreateFileTimeBase, "%d:%d", &h, &m); err != nil || h > 23 || m > 59 {
			h, m = 2, 0
		}
		p.trunkAdvance = trunkAdvance{on: tp.TrunkCreateFileAdvance && tp.TrunkCreateFileSpaceThreshold > 0,
			hour: h, min: m, interval: max(tp.TrunkCreateFileInterval, time.Second), threshold: tp.TrunkCreateFileSpaceThreshold}
	}
	if p.responseIPSize != proto.IPv6Size {
		p.responseIPSize = proto.IPv4Size
	}
	return p, nil
}

func (p *params) String() string {
	return "store_path=" + strconv.Itoa(p.storePathMode) + " reserved=" + p.reserved.String() +
		" response_ip_addr_size=" + strconv.Itoa(p.responseIPSize)
}
