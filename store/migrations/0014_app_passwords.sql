-- App passwords: generated secrets a user creates for WebDAV clients
-- (rclone, davfs2, a file manager), so that the login password never sits
-- in a client's config. Only the sha256 of each is kept: the secrets are
-- 160 random bits, so a fast hash is enough.
CREATE TABLE IF NOT EXISTS app_password (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user        VARCHAR(128) NOT NULL,
    label       VARCHAR(64)  NOT NULL,
    pass_hash   CHAR(64)     NOT NULL COMMENT 'sha256 hex of the password',
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used   TIMESTAMP    NULL DEFAULT NULL,
    UNIQUE KEY uq_pass_hash (pass_hash),
    KEY idx_user (user, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
