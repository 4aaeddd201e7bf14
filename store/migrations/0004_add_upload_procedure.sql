-- add_upload records an upload in one round trip: the whole transaction runs
-- inside the server, so the per-user counter row is locked for microseconds
-- instead of for the network round trips to COMMIT, which serialised one
-- user's concurrent uploads (store.AddUploaded has the semantics).
-- Returns one row: the file ID now referenced (the existing one when the
-- content was known) and the dfs_gc id of the new copy to delete (0: none).
-- A user who already has (md5, name) gets error 1062 and nothing changes.
DROP PROCEDURE IF EXISTS add_upload;
CREATE PROCEDURE add_upload(
    IN p_user VARCHAR(128), IN p_md5 CHAR(32), IN p_name VARCHAR(255),
    IN p_file_id VARCHAR(256), IN p_url VARCHAR(512), IN p_size BIGINT, IN p_type VARCHAR(32))
MODIFIES SQL DATA
BEGIN
    DECLARE v_file_id VARCHAR(256) DEFAULT p_file_id;
    DECLARE v_gc BIGINT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    INSERT INTO user_file_list (user, md5, file_name) VALUES (p_user, p_md5, p_name);
    INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (p_md5, p_file_id, p_url, p_size, p_type, 1)
        ON DUPLICATE KEY UPDATE count = count + 1;
    IF ROW_COUNT() <> 1 THEN
        SELECT file_id INTO v_file_id FROM file_info WHERE md5 = p_md5;
        INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (p_file_id, 'duplicate', UNIX_TIMESTAMP() + 60);
        SET v_gc = LAST_INSERT_ID();
    END IF;
    INSERT INTO user_file_count (user, count) VALUES (p_user, 1) ON DUPLICATE KEY UPDATE count = count + 1;
    COMMIT;
    SELECT v_file_id AS file_id, v_gc AS gc_id;
END;
