-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- a phone belongs to one resident at a time: where several bound the same
-- number, the latest binder keeps it
UPDATE residents SET phone_cipher = NULL, phone_hash = NULL WHERE phone_hash IS NOT NULL AND EXISTS (SELECT 1 FROM residents AS newer WHERE newer.phone_hash = residents.phone_hash AND (newer.update_time > residents.update_time OR (newer.update_time = residents.update_time AND newer.id > residents.id)));
-- add column "actor_resident_id" to table: "audit_entries"
ALTER TABLE `audit_entries` ADD COLUMN `actor_resident_id` integer NULL;
-- create "new_residents" table
CREATE TABLE `new_residents` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `openid` text NOT NULL, `phone_cipher` text NULL, `phone_hash` text NULL, `subscribed` bool NOT NULL DEFAULT (false));
-- copy rows from old table "residents" to new temporary table "new_residents"
INSERT INTO `new_residents` (`id`, `create_time`, `update_time`, `openid`, `phone_cipher`, `phone_hash`, `subscribed`) SELECT `id`, `create_time`, `update_time`, `openid`, `phone_cipher`, `phone_hash`, `subscribed` FROM `residents`;
-- drop "residents" table after copying rows
DROP TABLE `residents`;
-- rename temporary table "new_residents" to "residents"
ALTER TABLE `new_residents` RENAME TO `residents`;
-- create index "resident_openid" to table: "residents"
CREATE UNIQUE INDEX `resident_openid` ON `residents` (`openid`);
-- create index "resident_phone_hash" to table: "residents"
CREATE UNIQUE INDEX `resident_phone_hash` ON `residents` (`phone_hash`);
-- an errand belongs to the resident who holds its phone
UPDATE errands SET resident_id = (SELECT residents.id FROM residents WHERE residents.phone_hash = errands.resident_phone_hash);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
