package tracker

import (
	"fmt"

	"yunpan/conf"
)

// withDefaults returns a copy of o in which every field whose zero value is
// meaningless (timeouts, limits, texts) takes conf.DefaultTracker's value,
// so tests and callers can build a conf.Tracker by hand. Port 0 stays 0
// (any free port); booleans are taken as given.
func withDefaults(o *conf.Tracker) *conf.Tracker {
	c := *o
	d := conf.DefaultTracker()
	if c.NetworkTimeout <= 0 {
		c.NetworkTimeout = d.NetworkTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxBuffSize <= 0 {
		c.MaxBuffSize = d.MaxBuffSize
	}
	if c.CheckActiveInterval <= 0 {
		c.CheckActiveInterval = d.CheckActiveInterval
	}
	if c.StorageSyncFileMaxDelay <= 0 {
		c.StorageSyncFileMaxDelay = d.StorageSyncFileMaxDelay
	}
	if c.StorageSyncFileMaxTime <= 0 {
		c.StorageSyncFileMaxTime = d.StorageSyncFileMaxTime
	}
	if len(c.AllowHosts) == 0 {
		c.AllowHosts = d.AllowHosts
	}
	if c.ReservedSpace == (conf.Reserved{}) {
		c.ReservedSpace = d.ReservedSpace
	}
	if c.IDTypeInFilename == "" {
		c.IDTypeInFilename = d.IDTypeInFilename
	}
	if c.ResponseIPAddrSize == "" {
		c.ResponseIPAddrSize = d.ResponseIPAddrSize
	}
	if c.SlotMinSize <= 0 {
		c.SlotMinSize = d.SlotMinSize
	}
	if c.TrunkFileSize <= 0 {
		c.TrunkFileSize = d.TrunkFileSize
	}
	if c.SlotMaxSize <= 0 {
		c.SlotMaxSize = c.TrunkFileSize / 8
	}
	if c.TrunkCreateFileTimeBase == "" {
		c.TrunkCreateFileTimeBase = d.TrunkCreateFileTimeBase
	}
	if c.TrunkCreateFileInterval <= 0 {
		c.TrunkCreateFileInterval = d.TrunkCreateFileInterval
	}
	if c.TrunkCompressBinlogTimeBase == "" {
		c.TrunkCompressBinlogTimeBase = d.TrunkCompressBinlogTimeBase
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	return &c
}

// validate rejects settings this tracker cannot honour.
func validate(o *conf.Tracker) error {
	if o.Disabled {
		return fmt.Errorf("tracker: disabled=true in config")
	}
	if o.BasePath == "" {
		return fmt.Errorf("tracker: base_path is required")
	}
	switch o.StoreLookup {
	case 0, 2:
	case 1:
		if o.StoreGroup == "" {
			return fmt.Errorf("tracker: store_lookup=1 needs store_group")
		}
	default:
		// FastDFS answers EINVAL at query time; failing at start is kinder.
		return fmt.Errorf("tracker: store_lookup=%d: must be 0, 1 or 2", o.StoreLookup)
	}
	if o.ReservedSpace.Ratio < 0 || o.ReservedSpace.Ratio >= 1 || o.ReservedSpace.MB < 0 {
		return fmt.Errorf("tracker: reserved_storage_space %q out of range", o.ReservedSpace.String())
	}
	return nil
}
