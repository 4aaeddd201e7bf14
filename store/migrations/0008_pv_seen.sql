-- A download count moves once per user and per client address, per file,
-- per hour: a row per (who, file) remembers until when a repeat is not
-- counted (store.AddSharePV, store.AddPV).

CREATE TABLE IF NOT EXISTS pv_seen (
    k          CHAR(64) NOT NULL PRIMARY KEY COMMENT 'sha256 hex of kind, who, md5 and file name',
    seen_until BIGINT   NOT NULL COMMENT 'unix seconds',
    KEY idx_seen_until (seen_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
