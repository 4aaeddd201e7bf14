-- add_uploads records several uploads in one transaction (group commit):
-- each item does what add_upload does, and one COMMIT covers them all, so
-- concurrent uploads share the round trip, the statement parse and the
-- redo log write that each paid alone. p_batch is a JSON array of
-- [user, md5, file_name, file_id, url, size, type] arrays.
-- Returns one row, one line per item in order: "<dup> <gc_id> <file_id>",
-- dup 1 when the user already has (md5, name) (that item changed nothing;
-- add_upload's error 1062), else the file ID now referenced and the dfs_gc
-- id of the new copy to delete (0: none). Any other error rolls the whole
-- batch back and is raised.
DROP PROCEDURE IF EXISTS add_uploads;
CREATE PROCEDURE add_uploads(IN p_batch LONGTEXT)
MODIFIES SQL DATA
BEGIN
    DECLARE i INT DEFAULT 0;
    DECLARE n INT DEFAULT JSON_LENGTH(p_batch);
    DECLARE v_item LONGTEXT;
    DECLARE v_user VARCHAR(128);
    DECLARE v_md5 CHAR(32);
    DECLARE v_name VARCHAR(255);
    DECLARE v_new_id VARCHAR(256);
    DECLARE v_url VARCHAR(512);
    DECLARE v_size BIGINT;
    DECLARE v_type VARCHAR(32);
    DECLARE v_file_id VARCHAR(256);
    DECLARE v_gc BIGINT;
    DECLARE v_dup INT;
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
        SET v_user = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[0]')),
            v_md5 = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[1]')),
            v_name = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[2]')),
            v_new_id = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[3]')),
            v_url = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[4]')),
            v_size = CAST(JSON_EXTRACT(v_item, '$[5]') AS SIGNED),
            v_type = JSON_UNQUOTE(JSON_EXTRACT(v_item, '$[6]'));
        SET v_file_id = v_new_id, v_gc = 0, v_dup = 0;
        BEGIN
            -- The first statement of the item: when it fails nothing of the
            -- item has changed.
            DECLARE EXIT HANDLER FOR 1062 SET v_dup = 1;
            INSERT INTO user_file_list (user, md5, file_name) VALUES (v_user, v_md5, v_name);
        END;
        IF v_dup = 0 THEN
            INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (v_md5, v_new_id, v_url, v_size, v_type, 1)
                ON DUPLICATE KEY UPDATE count = count + 1;
            IF ROW_COUNT() <> 1 THEN
                SELECT file_id INTO v_file_id FROM file_info WHERE md5 = v_md5;
                INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (v_new_id, 'duplicate', UNIX_TIMESTAMP() + 60);
                SET v_gc = LAST_INSERT_ID();
            END IF;
            INSERT INTO user_file_count (user, count) VALUES (v_user, 1) ON DUPLICATE KEY UPDATE count = count + 1;
        END IF;
        SET v_out = CONCAT(v_out, v_dup, ' ', v_gc, ' ', v_file_id, CHAR(10 USING utf8mb4));
        SET i = i + 1;
    END WHILE;
    COMMIT;
    SELECT v_out AS results;
END;
