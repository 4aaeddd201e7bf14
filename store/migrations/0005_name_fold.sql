-- User names are unique regardless of case: "alice" and "ALICE" are one
-- account. user_name_fold is the simple Unicode case fold of the name
-- (store.FoldName; user names are ASCII, where it equals LOWER()). Accounts
-- that already differ only by case keep working under their exact names:
-- all but the oldest get a fold no new name can produce ('/' is not allowed
-- in user names), so the unique index can be built.
-- IF NOT EXISTS (MariaDB) keeps the migration re-runnable.

ALTER TABLE user_info ADD COLUMN IF NOT EXISTS user_name_fold VARCHAR(160) NULL AFTER user_name;

UPDATE user_info SET user_name_fold = LOWER(user_name) WHERE user_name_fold IS NULL;

UPDATE user_info u
  JOIN (SELECT user_name_fold AS f, MIN(id) AS keep_id FROM user_info GROUP BY user_name_fold HAVING COUNT(*) > 1) d
    ON u.user_name_fold = d.f AND u.id <> d.keep_id
   SET u.user_name_fold = CONCAT(u.user_name_fold, '/', u.id);

ALTER TABLE user_info MODIFY user_name_fold VARCHAR(160) NOT NULL;

CREATE UNIQUE INDEX IF NOT EXISTS uq_user_name_fold ON user_info (user_name_fold);
