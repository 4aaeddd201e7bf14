-- The course's tables ([D] naming), with the keys it lacked: unique
-- (user, md5, file_name), unique share (md5, file_name), unique file_info.md5,
-- and indexes for the list queries. utf8mb4_bin: names compare byte for
-- byte, so "a.txt" and "A.txt" are two files.

CREATE TABLE IF NOT EXISTS user_info (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_name   VARCHAR(128) NOT NULL,
    nick_name   VARCHAR(128) NOT NULL,
    password    VARCHAR(128) NOT NULL COMMENT 'bcrypt of what the client sends (md5 hex of the password)',
    phone       VARCHAR(16)  NOT NULL DEFAULT '',
    email       VARCHAR(64)  NOT NULL DEFAULT '',
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_user_name (user_name),
    UNIQUE KEY uq_nick_name (nick_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS file_info (
    id      BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    md5     CHAR(32)     NOT NULL COMMENT 'md5 of the content, computed by the server on upload',
    file_id VARCHAR(256) NOT NULL COMMENT 'DFS file ID group/M00/..',
    url     VARCHAR(512) NOT NULL COMMENT 'download URL at upload time (responses rebuild it)',
    size    BIGINT       NOT NULL,
    type    VARCHAR(32)  NOT NULL,
    count   INT          NOT NULL DEFAULT 1 COMMENT 'reference count: user_file_list rows using it',
    UNIQUE KEY uq_md5 (md5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS user_file_list (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user          VARCHAR(128) NOT NULL,
    md5           CHAR(32)     NOT NULL,
    create_time   TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    file_name     VARCHAR(255) NOT NULL,
    shared_status INT          NOT NULL DEFAULT 0,
    pv            INT          NOT NULL DEFAULT 0,
    UNIQUE KEY uq_user_md5_name (user, md5, file_name),
    KEY idx_user_pv (user, pv),
    KEY idx_md5 (md5)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS user_file_count (
    id    BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user  VARCHAR(128) NOT NULL,
    count INT          NOT NULL DEFAULT 0,
    UNIQUE KEY uq_user (user)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS share_file_list (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user        VARCHAR(128) NOT NULL,
    md5         CHAR(32)     NOT NULL,
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    file_name   VARCHAR(255) NOT NULL,
    pv          INT          NOT NULL DEFAULT 0,
    UNIQUE KEY uq_md5_name (md5, file_name),
    KEY idx_user (user),
    KEY idx_pv (pv)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
