package proto

// Command codes (docs/protocol.md §1.6).
const (
	CmdStorageReportServerID = 9

	CmdUploadFile                 = 11
	CmdDeleteFile                 = 12
	CmdSetMetadata                = 13
	CmdDownloadFile               = 14
	CmdGetMetadata                = 15
	CmdSyncCreateFile             = 16
	CmdSyncDeleteFile             = 17
	CmdSyncUpdateFile             = 18
	CmdSyncCreateLink             = 19
	CmdCreateLink                 = 20
	CmdUploadSlaveFile            = 21
	CmdQueryFileInfo              = 22
	CmdUploadAppenderFile         = 23
	CmdAppendFile                 = 24
	CmdSyncAppendFile             = 25
	CmdFetchOnePathBinlog         = 26
	CmdModifyFile                 = 34
	CmdSyncModifyFile             = 35
	CmdTruncateFile               = 36
	CmdSyncTruncateFile           = 37
	CmdRegenerateAppenderFilename = 38
	CmdSyncRenameFile             = 40

	CmdTrackerJoinLeader           = 58
	CmdStorageChangeStatus         = 59
	CmdStorageGetMyIP              = 60
	CmdTrackerGetSysFilesStart     = 61
	CmdTrackerGetSysFilesEnd       = 62
	CmdTrackerGetOneSysFile        = 63
	CmdTrackerGetStatus            = 64
	CmdTrackerPingLeader           = 65
	CmdTrackerNotifyNextLeader     = 66
	CmdTrackerCommitNextLeader     = 67
	CmdTrackerNotifyReselectLeader = 68
	CmdStorageFetchStorageIDs      = 69
	CmdStorageGetServerID          = 70
	CmdStorageGetStatus            = 71
	CmdStorageFetchTrunkFID        = 72
	CmdStorageReportTrunkFID       = 73
	CmdStorageReportTrunkFree      = 74
	CmdStorageParameterReq         = 75
	CmdStorageReportStatus         = 76
	CmdStorageChangelogReq         = 77
	CmdStorageReportIPChanged      = 78
	CmdStorageSyncDestQuery        = 79
	CmdStorageJoin                 = 81
	CmdQuit                        = 82
	CmdStorageBeat                 = 83
	CmdStorageReportDiskUsage      = 84
	CmdStorageReplicaChg           = 85
	CmdStorageSyncSrcReq           = 86
	CmdStorageSyncDestReq          = 87
	CmdStorageSyncNotify           = 88
	CmdStorageSyncReport           = 89

	CmdServerListOneGroup        = 90
	CmdServerListAllGroups       = 91
	CmdServerListStorage         = 92
	CmdServerDeleteStorage       = 93
	CmdServerSetTrunkServer      = 94
	CmdServerGetLeader           = 95
	CmdServerTrackerClusterStat  = 96
	CmdServerStorageClusterStat  = 97
	CmdServerStorageVolumeStat   = 98
	CmdResp                      = 100
	CmdQueryStoreWithoutGroupOne = 101
	CmdQueryFetchOne             = 102
	CmdQueryUpdate               = 103
	CmdQueryStoreWithGroupOne    = 104
	CmdQueryFetchAll             = 105
	CmdQueryStoreWithoutGroupAll = 106
	CmdQueryStoreWithGroupAll    = 107
	CmdServerDeleteGroup         = 108
	CmdStorageGetGroupName       = 109
	CmdActiveTest                = 111
)

// Trunk storage commands (docs/protocol.md §5.8): storage ↔ trunk server,
// and the tracker asking storages about their trunk binlogs.
const (
	CmdTrunkAllocSpace        = 27
	CmdTrunkAllocConfirm      = 28
	CmdTrunkFreeSpace         = 29
	CmdTrunkSyncBinlog        = 30
	CmdTrunkGetBinlogSize     = 31
	CmdTrunkDeleteBinlogMarks = 32
	CmdTrunkTruncateBinlog    = 33
)

// CmdTrunkCheck is a yunpan extension answered by a trunk server: it looks
// for trunk space that no file references (a writer that died between
// confirming a slot and answering its client, a delete whose slot could not
// be given back) and, when asked, frees it. Request: u8 repair, i64be grace
// seconds (space marked used more recently is left alone: its file may
// still be on its way). Response: key=value text lines.
const CmdTrunkCheck = 121
