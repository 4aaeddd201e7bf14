-- Ours: login tokens that survive a Redis outage, the global share counter
-- (the course kept it under a magic user name in user_file_count), and the
-- DFS files still to delete.

CREATE TABLE IF NOT EXISTS user_token (
    token_hash  CHAR(64)     NOT NULL PRIMARY KEY COMMENT 'sha256 hex of the token; the token itself is never stored',
    user        VARCHAR(128) NOT NULL,
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expire_time BIGINT       NOT NULL COMMENT 'unix seconds',
    KEY idx_user (user),
    KEY idx_expire (expire_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS global_count (
    name    VARCHAR(64) NOT NULL PRIMARY KEY,
    count   BIGINT      NOT NULL DEFAULT 0,
    version BIGINT      NOT NULL DEFAULT 0 COMMENT 'bumped on every change; the Redis ranking records the version it was built from'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT IGNORE INTO global_count (name, count) VALUES ('share_file_list', 0);

CREATE TABLE IF NOT EXISTS dfs_gc (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    file_id     VARCHAR(256) NOT NULL,
    reason      VARCHAR(32)  NOT NULL,
    attempts    INT          NOT NULL DEFAULT 0,
    last_error  VARCHAR(512) NOT NULL DEFAULT '',
    next_try    BIGINT       NOT NULL DEFAULT 0 COMMENT 'unix seconds',
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY idx_next_try (next_try)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
