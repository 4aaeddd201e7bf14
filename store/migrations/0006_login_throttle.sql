-- Failed logins per account (the folded user name) and per client address,
-- so that password guessing slows down for every FastCGI program at once
-- and whether Redis is up or not (store/throttle.go).

CREATE TABLE IF NOT EXISTS login_throttle (
    k            VARCHAR(200) NOT NULL PRIMARY KEY COMMENT 'u:<folded user name> or a:<client address>',
    failures     INT          NOT NULL DEFAULT 0 COMMENT 'attempts not followed by a success, counted before the password is checked',
    last_try     BIGINT       NOT NULL DEFAULT 0 COMMENT 'unix seconds',
    locked_until BIGINT       NOT NULL DEFAULT 0 COMMENT 'unix milliseconds; attempts before it are refused without checking the password',
    KEY idx_last_try (last_try)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
