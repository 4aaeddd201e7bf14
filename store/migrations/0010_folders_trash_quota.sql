-- Folders, the trash and quotas (store/folders.go, store/trash.go,
-- store/quota.go).
--
-- Folders are rows of user_file_list too (kind 1, md5 ''), so that one
-- unique key keeps the names of a folder unique across files and folders:
-- (user, folder_id, file_name, trash_id). folder_id 0 is the root; trash_id
-- 0 is a live entry, else the trash row holding it (a trashed folder's
-- whole subtree carries that row's id), so trashed entries never hold a
-- name. The course's key (user, md5, file_name) goes: the same content may
-- now sit under one name in several folders. file_info.count still counts
-- every file row, live or trashed; size is the content's, per entry, for
-- the sorts and the quota; name_fold is the lower-cased name for the
-- name sort and the search. Every statement is safe to run again.

ALTER TABLE user_file_list
    ADD COLUMN IF NOT EXISTS kind TINYINT NOT NULL DEFAULT 0 COMMENT '0 file, 1 folder (md5 empty)',
    ADD COLUMN IF NOT EXISTS folder_id BIGINT NOT NULL DEFAULT 0 COMMENT 'parent folder id; 0: the root',
    ADD COLUMN IF NOT EXISTS trash_id BIGINT NOT NULL DEFAULT 0 COMMENT '0: live; else the trash row that holds it',
    ADD COLUMN IF NOT EXISTS size BIGINT NOT NULL DEFAULT 0 COMMENT 'bytes of the content (0 for a folder)',
    ADD COLUMN IF NOT EXISTS name_fold VARCHAR(255) AS (LOWER(file_name)) STORED;

UPDATE user_file_list u JOIN file_info f ON f.md5 = u.md5 SET u.size = f.size WHERE u.kind = 0 AND u.size <> f.size;

-- name_candidate(name, i) is "stem (i).ext", cut to 255 bytes (the stem
-- first): the free names given to a name already taken (store.NameCandidate
-- is the same rule in Go).
DROP FUNCTION IF EXISTS name_candidate;
CREATE FUNCTION name_candidate(p_name VARCHAR(255), p_i BIGINT) RETURNS VARCHAR(255) CHARSET utf8mb4 COLLATE utf8mb4_bin
DETERMINISTIC NO SQL
BEGIN
    DECLARE v_rev INT DEFAULT LOCATE('.', REVERSE(p_name));
    DECLARE v_dot INT DEFAULT 0;
    DECLARE v_stem VARCHAR(255) CHARSET utf8mb4 COLLATE utf8mb4_bin DEFAULT p_name;
    DECLARE v_ext VARCHAR(255) CHARSET utf8mb4 COLLATE utf8mb4_bin DEFAULT '';
    DECLARE v_suffix VARCHAR(32) CHARSET utf8mb4 COLLATE utf8mb4_bin DEFAULT CONCAT(' (', p_i, ')');
    IF v_rev > 0 THEN
        SET v_dot = CHAR_LENGTH(p_name) - v_rev + 1;
    END IF;
    IF v_dot > 1 THEN
        SET v_stem = LEFT(p_name, v_dot - 1), v_ext = SUBSTRING(p_name, v_dot);
    END IF;
    WHILE LENGTH(v_stem) + LENGTH(v_suffix) + LENGTH(v_ext) > 255 AND CHAR_LENGTH(v_stem) > 0 DO
        SET v_stem = LEFT(v_stem, CHAR_LENGTH(v_stem) - 1);
    END WHILE;
    WHILE LENGTH(v_suffix) + LENGTH(v_ext) > 255 DO
        SET v_ext = LEFT(v_ext, CHAR_LENGTH(v_ext) - 1);
    END WHILE;
    RETURN CONCAT(v_stem, v_suffix, v_ext);
END;

-- Names in a folder are unique now: of a user's live root entries sharing
-- a name (the same name with other content), the oldest keeps it and the
-- others become "stem (id).ext"; a share of a renamed entry follows it.
UPDATE share_file_list s
  JOIN user_file_list u ON u.user = s.user AND u.md5 = s.md5 AND u.file_name = s.file_name
  JOIN (SELECT user, file_name, MIN(id) AS keep_id FROM user_file_list
         WHERE folder_id = 0 AND trash_id = 0 GROUP BY user, file_name HAVING COUNT(*) > 1) d
    ON d.user = u.user AND d.file_name = u.file_name AND u.id <> d.keep_id
   SET s.file_name = name_candidate(u.file_name, u.id);

UPDATE user_file_list u
  JOIN (SELECT user, file_name, MIN(id) AS keep_id FROM user_file_list
         WHERE folder_id = 0 AND trash_id = 0 GROUP BY user, file_name HAVING COUNT(*) > 1) d
    ON d.user = u.user AND d.file_name = u.file_name AND u.id <> d.keep_id
   SET u.file_name = name_candidate(u.file_name, u.id);

-- The ranking cache (Redis) is rebuilt from the share list at its next read.
UPDATE global_count SET version = version + 1 WHERE name = 'share_file_list';

CREATE UNIQUE INDEX IF NOT EXISTS uq_user_folder_name ON user_file_list (user, folder_id, file_name, trash_id);

DROP INDEX IF EXISTS uq_user_md5_name ON user_file_list;

CREATE INDEX IF NOT EXISTS idx_user_md5_name ON user_file_list (user, md5, file_name);

-- A folder page: equality on the first four columns, ordered by the fifth
-- (and the primary key InnoDB appends): no sort of the folder's rows.
CREATE INDEX IF NOT EXISTS idx_list_live ON user_file_list (user, folder_id, trash_id, kind);

CREATE INDEX IF NOT EXISTS idx_list_name ON user_file_list (user, folder_id, trash_id, kind, name_fold);

CREATE INDEX IF NOT EXISTS idx_list_time ON user_file_list (user, folder_id, trash_id, kind, create_time);

CREATE INDEX IF NOT EXISTS idx_list_size ON user_file_list (user, folder_id, trash_id, kind, size);

CREATE INDEX IF NOT EXISTS idx_trash ON user_file_list (trash_id);

-- user_file_count is the user's row: count (file entries, live or
-- trashed), bytes (their sizes, each entry counted even when its content is
-- shared: the quota's usage) and quota (NULL: cfg.json's quota_bytes; 0:
-- unlimited). Every change of a user's entries locks it first.
ALTER TABLE user_file_count
    ADD COLUMN IF NOT EXISTS bytes BIGINT NOT NULL DEFAULT 0 COMMENT 'bytes of the entries, live or trashed',
    ADD COLUMN IF NOT EXISTS quota BIGINT NULL COMMENT 'NULL: the default quota_bytes; 0: unlimited';

UPDATE user_file_count c
  JOIN (SELECT user, SUM(size) AS b FROM user_file_list WHERE kind = 0 GROUP BY user) u ON u.user = c.user
   SET c.bytes = u.b;

-- One row per trashed item (a file, or a folder with everything under
-- it); its entries carry its id in user_file_list.trash_id.
CREATE TABLE IF NOT EXISTS trash (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user        VARCHAR(128) NOT NULL,
    entry_id    BIGINT       NOT NULL COMMENT 'the user_file_list row deleted',
    folder_id   BIGINT       NOT NULL COMMENT 'the folder it was in (restored there while it is live)',
    files       BIGINT       NOT NULL DEFAULT 0 COMMENT 'file entries in it',
    bytes       BIGINT       NOT NULL DEFAULT 0 COMMENT 'their bytes',
    delete_time TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expire_time BIGINT       NOT NULL COMMENT 'unix seconds: purged by the collector after',
    UNIQUE KEY uq_entry (entry_id),
    KEY idx_user (user, id),
    KEY idx_expire (expire_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- add_entry adds one file entry inside the caller's transaction: p_file_id
-- '' links known content (status 3 when it is unknown), else records a new
-- DFS copy (queued in dfs_gc when the content was known). The name is
-- p_name when the folder does not hold it, else a free name_candidate of
-- it; when the folder holds this very content under p_name or one of its
-- candidates, nothing changes and the status is 1 (o_name: that name), so
-- that asking again is no new entry.
-- Status 2: the user's quota (their own, else p_quota; 0 unlimited) cannot
-- take the entry's bytes; 4: no such live folder. The user's row is
-- locked first, as by every change of a user's entries, so no other
-- transaction takes the name meanwhile.
DROP PROCEDURE IF EXISTS add_entry;
CREATE PROCEDURE add_entry(
    IN p_user VARCHAR(128), IN p_folder BIGINT, IN p_md5 CHAR(32), IN p_name VARCHAR(255),
    IN p_file_id VARCHAR(256), IN p_url VARCHAR(512), IN p_size BIGINT, IN p_type VARCHAR(32), IN p_quota BIGINT,
    OUT o_status INT, OUT o_name VARCHAR(255), OUT o_file_id VARCHAR(256), OUT o_gc BIGINT)
MODIFIES SQL DATA
body: BEGIN
    DECLARE v_bytes BIGINT;
    DECLARE v_quota BIGINT;
    DECLARE v_size BIGINT DEFAULT p_size;
    DECLARE v_i INT DEFAULT 0;
    DECLARE v_kind INT;
    DECLARE v_md5 CHAR(32);
    DECLARE v_rev INT DEFAULT LOCATE('.', REVERSE(p_name));
    DECLARE v_dot INT DEFAULT 0;
    DECLARE v_like VARCHAR(1024) CHARSET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_same VARCHAR(255) CHARSET utf8mb4 COLLATE utf8mb4_bin;
    SET o_status = 0, o_name = p_name, o_file_id = p_file_id, o_gc = 0;
    INSERT INTO user_file_count (user, count) VALUES (p_user, 0) ON DUPLICATE KEY UPDATE count = count;
    SELECT bytes, COALESCE(quota, p_quota) INTO v_bytes, v_quota FROM user_file_count WHERE user = p_user FOR UPDATE;
    IF p_folder <> 0 AND NOT EXISTS (SELECT 1 FROM user_file_list WHERE id = p_folder AND user = p_user AND kind = 1 AND trash_id = 0) THEN
        SET o_status = 4;
        LEAVE body;
    END IF;
    -- The free names of p_name are "stem (n).ext" (name_candidate): v_like
    -- matches them, so that one look at the index finds this content under
    -- any of them, and the count of them is where the search for a free one
    -- starts (not at 1: a folder may hold thousands of "photo (n).jpg").
    IF v_rev > 0 THEN
        SET v_dot = CHAR_LENGTH(p_name) - v_rev + 1;
    END IF;
    SET v_like = IF(v_dot > 1,
        CONCAT(REPLACE(REPLACE(REPLACE(LEFT(p_name, v_dot - 1), '\\', '\\\\'), '%', '\\%'), '_', '\\_'), ' (%)',
               REPLACE(REPLACE(REPLACE(SUBSTRING(p_name, v_dot), '\\', '\\\\'), '%', '\\%'), '_', '\\_')),
        CONCAT(REPLACE(REPLACE(REPLACE(p_name, '\\', '\\\\'), '%', '\\%'), '_', '\\_'), ' (%)'));
    SELECT kind, md5 INTO v_kind, v_md5 FROM user_file_list
     WHERE user = p_user AND folder_id = p_folder AND file_name = p_name AND trash_id = 0 LIMIT 1;
    IF v_kind IS NOT NULL THEN
        IF v_kind = 0 AND v_md5 = p_md5 THEN
            SET o_status = 1;
            LEAVE body;
        END IF;
        SET v_same = NULL;
        SELECT file_name INTO v_same FROM user_file_list
         WHERE user = p_user AND md5 = p_md5 AND folder_id = p_folder AND trash_id = 0 AND kind = 0
           AND file_name LIKE v_like LIMIT 1;
        IF v_same IS NOT NULL THEN
            SET o_status = 1, o_name = v_same;
            LEAVE body;
        END IF;
        SELECT COUNT(*) INTO v_i FROM user_file_list
         WHERE user = p_user AND folder_id = p_folder AND file_name LIKE v_like AND trash_id = 0;
        name_loop: LOOP
            SET v_i = v_i + 1;
            SET o_name = name_candidate(p_name, v_i);
            IF NOT EXISTS (SELECT 1 FROM user_file_list
                            WHERE user = p_user AND folder_id = p_folder AND file_name = o_name AND trash_id = 0) THEN
                LEAVE name_loop;
            END IF;
        END LOOP;
    END IF;
    IF p_file_id = '' THEN
        SET v_size = NULL;
        SELECT file_id, size INTO o_file_id, v_size FROM file_info WHERE md5 = p_md5 FOR UPDATE;
        IF v_size IS NULL THEN
            SET o_status = 3, o_file_id = '';
            LEAVE body;
        END IF;
    END IF;
    IF v_quota > 0 AND v_bytes + v_size > v_quota THEN
        SET o_status = 2;
        LEAVE body;
    END IF;
    INSERT INTO user_file_list (user, md5, file_name, folder_id, size) VALUES (p_user, p_md5, o_name, p_folder, v_size);
    IF p_file_id = '' THEN
        UPDATE file_info SET count = count + 1 WHERE md5 = p_md5;
    ELSE
        INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (p_md5, p_file_id, p_url, p_size, p_type, 1)
            ON DUPLICATE KEY UPDATE count = count + 1;
        IF ROW_COUNT() <> 1 THEN
            SELECT file_id INTO o_file_id FROM file_info WHERE md5 = p_md5;
            INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (p_file_id, 'duplicate', UNIX_TIMESTAMP() + 60);
            SET o_gc = LAST_INSERT_ID();
        END IF;
    END IF;
    UPDATE user_file_count SET count = count + 1, bytes = bytes + v_size WHERE user = p_user;
END;

-- add_upload records an upload into folder p_folder (0: the root) in one
-- round trip (add_entry in its own transaction; store.AddUploaded has the
-- semantics). Returns one row: the
-- file ID now referenced, the dfs_gc id of the new copy to delete (0:
-- none), add_entry's status and the name recorded. Nothing changes unless
-- the status is 0.
DROP PROCEDURE IF EXISTS add_upload;
CREATE PROCEDURE add_upload(
    IN p_user VARCHAR(128), IN p_md5 CHAR(32), IN p_name VARCHAR(255),
    IN p_file_id VARCHAR(256), IN p_url VARCHAR(512), IN p_size BIGINT, IN p_type VARCHAR(32), IN p_quota BIGINT,
    IN p_folder BIGINT)
MODIFIES SQL DATA
BEGIN
    DECLARE v_status INT;
    DECLARE v_name VARCHAR(255);
    DECLARE v_file_id VARCHAR(256);
    DECLARE v_gc BIGINT;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    CALL add_entry(p_user, p_folder, p_md5, p_name, p_file_id, p_url, p_size, p_type, p_quota, v_status, v_name, v_file_id, v_gc);
    COMMIT;
    SELECT v_file_id AS file_id, v_gc AS gc_id, v_status AS status, v_name AS file_name;
END;

-- add_uploads records several uploads in one transaction (group commit):
-- p_batch is a JSON array of [user, md5, file_name, file_id, url, size,
-- type, quota, folder_id] arrays. Returns one row, one line per item in order:
-- "<status> <gc_id> <file_id> <file_name>" (add_upload's columns; the
-- name last, it may hold spaces). Any error rolls the whole batch back
-- and is raised.
DROP PROCEDURE IF EXISTS add_uploads;
CREATE PROCEDURE add_uploads(IN p_batch LONGTEXT)
MODIFIES SQL DATA
BEGIN
    DECLARE i INT DEFAULT 0;
    DECLARE n INT DEFAULT JSON_LENGTH(p_batch);
    DECLARE v_item LONGTEXT;
    DECLARE v_status INT;
    DECLARE v_name VARCHAR(255);
    DECLARE v_file_id VARCHAR(256);
    DECLARE v_gc BIGINT;
    DECLARE v_out LONGTEXT DEFAULT '';
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    WHILE i < n DO
        SET v_item = JSON_EXTRACT(p_batch, CONCAT('$[', i, ']'));
        CALL add_entry(JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[0]')), CAST(JSON_EXTRACT(v_item, '$[8]') AS SIGNED),
            JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[1]')), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[2]')),
            JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[3]')), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[4]')),
            CAST(JSON_EXTRACT(v_item, '$[5]') AS SIGNED), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[6]')),
            CAST(JSON_EXTRACT(v_item, '$[7]') AS SIGNED),
            v_status, v_name, v_file_id, v_gc);
        SET v_out = CONCAT(v_out, v_status, ' ', v_gc, ' ', v_file_id, ' ', v_name, CHAR(10 USING utf8mb4));
        SET i = i + 1;
    END WHILE;
    COMMIT;
    SELECT v_out AS results;
END;
