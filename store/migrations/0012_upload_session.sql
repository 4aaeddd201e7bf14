-- Chunked, resumable uploads (/chunk, docs/api.md §1.15): one row per
-- unfinished upload. The content grows chunk by chunk in a DFS appender
-- file; committed says how much of it is recorded, and the md5 of those
-- bytes is carried on as the digest's marshalled state, so that finishing
-- never reads the file again. A put holds the row by busy_until while it
-- writes to the DFS, so two requests never write one session at once.

CREATE TABLE IF NOT EXISTS upload_session (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    upload_id   CHAR(32)      NOT NULL COMMENT 'the random ID the client holds (worth nothing without its user''s token)',
    user        VARCHAR(128)  NOT NULL,
    file_name   VARCHAR(255)  NOT NULL,
    size        BIGINT        NOT NULL COMMENT 'the whole file, bytes',
    chunk_size  BIGINT        NOT NULL,
    md5         CHAR(32)      NOT NULL DEFAULT '' COMMENT 'what the client claimed at init, checked at finish',
    file_id     VARCHAR(256)  NOT NULL DEFAULT '' COMMENT 'the DFS appender file; empty until the first chunk',
    final       TINYINT       NOT NULL DEFAULT 0 COMMENT '1: file_id is the regenerated normal file',
    committed   BIGINT        NOT NULL DEFAULT 0 COMMENT 'bytes recorded as stored',
    md5_state   VARBINARY(255) NOT NULL COMMENT 'marshalled md5 digest of the committed bytes',
    crc32       INT UNSIGNED  NOT NULL DEFAULT 0 COMMENT 'CRC32 (IEEE) of the committed bytes',
    last_offset BIGINT        NOT NULL DEFAULT -1 COMMENT 'offset of the last committed chunk',
    last_check  VARCHAR(80)   NOT NULL DEFAULT '' COMMENT 'its hash as sent (sha256 hex, or md5: and hex): a retry of it is answered as done',
    busy_until  BIGINT        NOT NULL DEFAULT 0 COMMENT 'unix ms: a request holds the session until then',
    create_time BIGINT        NOT NULL COMMENT 'unix seconds',
    update_time BIGINT        NOT NULL COMMENT 'unix seconds',
    expire_time BIGINT        NOT NULL COMMENT 'unix seconds: update_time + chunk_session_ttl',
    UNIQUE KEY uk_upload_id (upload_id),
    KEY idx_user (user, update_time),
    KEY idx_expire (expire_time),
    KEY idx_file_id (file_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
