-- Share links (分享链接): a link to one of a user's entries that anyone
-- holding it (and its extraction code, when it has one) can open and
-- download from without an account (store/link.go). kind is 'file' (the
-- user_file_list row item_id); folders come later under their own kind.
-- The token is the link's whole secret: 128 random bits, URL-safe.

CREATE TABLE IF NOT EXISTS share_link (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token       VARCHAR(32)  NOT NULL COMMENT 'base64url of 16 random bytes; the address is /#/s/<token>',
    user        VARCHAR(128) NOT NULL COMMENT 'owner',
    kind        VARCHAR(16)  NOT NULL COMMENT 'file (user_file_list.id)',
    item_id     BIGINT       NOT NULL,
    code_hash   CHAR(64)     NULL COMMENT 'hex HMAC-SHA256 of the extraction code keyed by the token; NULL: no code',
    expire_time BIGINT       NULL COMMENT 'unix seconds; NULL: never',
    revoked     TINYINT      NOT NULL DEFAULT 0,
    downloads   BIGINT       NOT NULL DEFAULT 0 COMMENT 'counted once per client address per hour',
    views       BIGINT       NOT NULL DEFAULT 0 COMMENT 'landing page openings, once per client address per hour',
    create_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE KEY uq_token (token),
    KEY idx_user_id (user, id),
    KEY idx_item (kind, item_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Wrong extraction codes, per link (the sha256 of the token asked for, so
-- that an unknown token costs the same) and per client address: at most
-- so many per window, counted before the code is checked.
CREATE TABLE IF NOT EXISTS link_guard (
    k            VARCHAR(200) NOT NULL PRIMARY KEY COMMENT 'l:<sha256 hex of the token> or a:<client address>',
    failures     INT          NOT NULL DEFAULT 0,
    window_start BIGINT       NOT NULL DEFAULT 0 COMMENT 'unix seconds of the first failure of the window',
    KEY idx_window_start (window_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The key that signs download grants (fcgi/app/link.go): made at random by
-- the first program that needs it, shared by all through this row.
CREATE TABLE IF NOT EXISTS link_secret (
    id          TINYINT   NOT NULL PRIMARY KEY,
    secret      CHAR(64)  NOT NULL COMMENT 'hex of 32 random bytes',
    create_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
