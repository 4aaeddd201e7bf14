-- Instant upload (/md5) proves possession: the server hands out a
-- challenge (byte ranges of the claimed content and a nonce) and links the
-- content only for the right answer (store/challenge.go). A challenge is
-- single-use and lives a few minutes.

CREATE TABLE IF NOT EXISTS md5_challenge (
    nonce_hash  CHAR(64)     NOT NULL PRIMARY KEY COMMENT 'sha256 hex of the nonce',
    user        VARCHAR(128) NOT NULL,
    md5         CHAR(32)     NOT NULL,
    size        BIGINT       NOT NULL COMMENT 'the size the client claimed',
    ranges      VARCHAR(512) NOT NULL COMMENT 'offset:length,... as handed out',
    expire_time BIGINT       NOT NULL COMMENT 'unix seconds',
    KEY idx_user (user),
    KEY idx_expire (expire_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
