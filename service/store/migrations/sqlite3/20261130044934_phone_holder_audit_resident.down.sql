-- reverse: create index "resident_phone_hash" to table: "residents"
DROP INDEX `resident_phone_hash`;
-- reverse: create index "resident_openid" to table: "residents"
DROP INDEX `resident_openid`;
-- reverse: create "new_residents" table
DROP TABLE `new_residents`;
-- reverse: add column "actor_resident_id" to table: "audit_entries"
ALTER TABLE `audit_entries` DROP COLUMN `actor_resident_id`;
