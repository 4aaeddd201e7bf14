-- add_uploads_set records a batch of uploads in one transaction with a
-- fixed number of statements for the whole batch instead of add_entry's
-- ten or so for each upload (add_uploads). p_batch is add_uploads' JSON
-- array of [user, md5, file_name, file_id, url, size, type, quota,
-- folder_id] arrays, each with five more members the caller works out
-- from the batch: [9] the user's number in the batch, [10] 1 when the
-- upload cannot be recorded set-based whatever the tables hold (no new
-- file ID; its content, or its name in its folder, twice in the batch),
-- [11] 1 on the user's first upload in the batch, [12] and [13] the
-- number and the bytes of the user's uploads in the batch.
--
-- The statements record the uploads of the users whose uploads are all
-- of the common case: the name free in a live folder (or the root), the
-- quota fine for all of them. Every upload of the other users goes to
-- add_entry, one by one in batch order, after the others, so that
-- whatever one of them finds (a name it must change, the bytes left) is
-- what it would find had the uploads run in order: the uploads recorded
-- set-based share no user and no content with them.
--
-- Returns one row of lines: first "<s> <d>", s the uploads recorded
-- set-based, d how many of those found their content known; then a line
-- "<i> <status> <gc_id> <file_id> <file_name>" (i the upload's place from
-- 1, the rest add_upload's columns) for each of those d and each upload
-- add_entry recorded. An upload with no line was recorded as asked, with
-- its own file ID. Any error rolls the whole batch back and is raised.
--
-- Rows are locked in a fixed order: the users' counters rows by user
-- first (as by every change of a user's entries), then file_info rows by
-- md5. The batch's strings are read one character wider than their
-- columns (JSON_TABLE cuts what is longer), so that a value too long
-- fails the INSERT (strict mode) as add_entry's parameter does. The
-- statements read the batch from a user variable: a statement that names
-- a routine's variable is logged with the variable's value written into
-- its text, escaped, at a cost that grows with the batch.
DROP PROCEDURE IF EXISTS add_uploads_set;
CREATE PROCEDURE add_uploads_set(IN p_batch LONGTEXT)
MODIFIES SQL DATA
BEGIN
    DECLARE i INT DEFAULT 0;
    DECLARE n INT DEFAULT JSON_LENGTH(p_batch);
    DECLARE v_item LONGTEXT;
    DECLARE v_status INT;
    DECLARE v_name VARCHAR(255);
    DECLARE v_file_id VARCHAR(256);
    DECLARE v_gc BIGINT;
    DECLARE v_gc0 BIGINT DEFAULT 0;
    DECLARE v_slow LONGTEXT;
    DECLARE v_users INT;
    DECLARE v_slow_users INT;
    DECLARE v_fast INT DEFAULT 0;
    DECLARE v_dups INT DEFAULT 0;
    DECLARE v_out LONGTEXT DEFAULT '';
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        SET @add_uploads_batch = NULL;
        RESIGNAL;
    END;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    SET @add_uploads_batch = p_batch;
    INSERT INTO user_file_count (user, count)
        SELECT j.user, 0
          FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (user VARCHAR(129) PATH '$[0]', first INT PATH '$[11]')) j
         WHERE j.first = 1
         ORDER BY j.user
        ON DUPLICATE KEY UPDATE count = user_file_count.count;
    -- v_slow: ",u,v," the users whose uploads go to add_entry.
    SELECT CONCAT(',', COALESCE(GROUP_CONCAT(DISTINCT IF(s.slow, s.uid, NULL)), ''), ','),
           COUNT(DISTINCT s.uid), COUNT(DISTINCT IF(s.slow, s.uid, NULL))
      INTO v_slow, v_users, v_slow_users
      FROM (SELECT STRAIGHT_JOIN j.uid, IFNULL(j.pre_slow = 1
                   OR (j.folder <> 0 AND NOT EXISTS (SELECT 1 FROM user_file_list d
                        WHERE d.id = j.folder AND d.user = j.user AND d.kind = 1 AND d.trash_id = 0))
                   OR EXISTS (SELECT 1 FROM user_file_list u
                        WHERE u.user = j.user AND u.folder_id = j.folder AND u.file_name = j.name AND u.trash_id = 0)
                   OR (COALESCE(c.quota, j.quota) > 0 AND c.bytes + j.total > COALESCE(c.quota, j.quota)), 1) AS slow
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       user VARCHAR(129) PATH '$[0]', name VARCHAR(256) PATH '$[2]', quota BIGINT PATH '$[7]',
                       folder BIGINT PATH '$[8]', uid INT PATH '$[9]', pre_slow INT PATH '$[10]', total BIGINT PATH '$[13]')) j
              JOIN user_file_count c ON c.user = j.user) s;
    IF v_users > v_slow_users THEN
        INSERT INTO user_file_list (user, md5, file_name, folder_id, size)
            SELECT j.user, j.md5, j.name, j.folder, j.size
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       user VARCHAR(129) PATH '$[0]', md5 VARCHAR(33) PATH '$[1]', name VARCHAR(256) PATH '$[2]',
                       size BIGINT PATH '$[5]', folder BIGINT PATH '$[8]', uid INT PATH '$[9]')) j
             WHERE LOCATE(CONCAT(',', j.uid, ','), v_slow) = 0;
        SET v_fast = ROW_COUNT();
        INSERT INTO file_info (md5, file_id, url, size, type, count)
            SELECT j.md5, j.file_id, j.url, j.size, j.type, 1
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       md5 VARCHAR(33) PATH '$[1]', file_id VARCHAR(257) PATH '$[3]', url VARCHAR(513) PATH '$[4]',
                       size BIGINT PATH '$[5]', type VARCHAR(33) PATH '$[6]', uid INT PATH '$[9]')) j
             WHERE LOCATE(CONCAT(',', j.uid, ','), v_slow) = 0
             ORDER BY j.md5
            ON DUPLICATE KEY UPDATE count = file_info.count + 1;
        -- Known content: file_info keeps its file, the new copy is garbage
        -- (a new DFS file ID is never the one file_info already holds).
        INSERT INTO dfs_gc (file_id, reason, next_try)
            SELECT STRAIGHT_JOIN j.file_id, 'duplicate', UNIX_TIMESTAMP() + 60
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       md5 VARCHAR(33) PATH '$[1]', file_id VARCHAR(257) PATH '$[3]', uid INT PATH '$[9]')) j
              JOIN file_info f ON f.md5 = j.md5
             WHERE LOCATE(CONCAT(',', j.uid, ','), v_slow) = 0 AND f.file_id <> j.file_id;
        SET v_dups = ROW_COUNT();
        IF v_dups > 0 THEN
            SET v_gc0 = LAST_INSERT_ID(); -- the first row's
        END IF;
        -- Every row exists and is locked: this only adds to them.
        INSERT INTO user_file_count (user, count, bytes)
            SELECT j.user, j.files, j.total
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       user VARCHAR(129) PATH '$[0]', uid INT PATH '$[9]', first INT PATH '$[11]',
                       files INT PATH '$[12]', total BIGINT PATH '$[13]')) j
             WHERE j.first = 1 AND LOCATE(CONCAT(',', j.uid, ','), v_slow) = 0
             ORDER BY j.user
            ON DUPLICATE KEY UPDATE count = user_file_count.count + VALUES(count), bytes = user_file_count.bytes + VALUES(bytes);
        IF v_dups > 0 THEN
            SELECT GROUP_CONCAT(CONCAT(j.idx, ' 0 ', g.id, ' ', f.file_id, ' ', j.name, CHAR(10 USING utf8mb4)) SEPARATOR '')
              INTO v_out
              FROM JSON_TABLE(@add_uploads_batch, '$[*]' COLUMNS (
                       idx FOR ORDINALITY, md5 VARCHAR(33) PATH '$[1]', name VARCHAR(256) PATH '$[2]',
                       file_id VARCHAR(257) PATH '$[3]', uid INT PATH '$[9]')) j
              STRAIGHT_JOIN file_info f ON f.md5 = j.md5
              JOIN dfs_gc g ON g.file_id = j.file_id AND g.id >= v_gc0
             WHERE LOCATE(CONCAT(',', j.uid, ','), v_slow) = 0 AND f.file_id <> j.file_id;
        END IF;
    END IF;
    IF v_slow_users > 0 THEN
        WHILE i < n DO
            SET v_item = JSON_EXTRACT(p_batch, CONCAT('$[', i, ']'));
            IF LOCATE(CONCAT(',', JSON_EXTRACT(v_item, '$[9]'), ','), v_slow) > 0 THEN
                CALL add_entry(JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[0]')), CAST(JSON_EXTRACT(v_item, '$[8]') AS SIGNED),
                    JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[1]')), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[2]')),
                    JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[3]')), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[4]')),
                    CAST(JSON_EXTRACT(v_item, '$[5]') AS SIGNED), JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[6]')),
                    CAST(JSON_EXTRACT(v_item, '$[7]') AS SIGNED),
                    v_status, v_name, v_file_id, v_gc);
                SET v_out = CONCAT(v_out, i + 1, ' ', v_status, ' ', v_gc, ' ', v_file_id, ' ', v_name, CHAR(10 USING utf8mb4));
            END IF;
            SET i = i + 1;
        END WHILE;
    END IF;
    COMMIT;
    SET @add_uploads_batch = NULL;
    SELECT CONCAT(v_fast, ' ', v_dups, CHAR(10 USING utf8mb4), v_out) AS results;
END;
