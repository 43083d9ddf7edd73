-- add column "consent_method" to table: "errands"
ALTER TABLE `errands` ADD COLUMN `consent_method` text NULL;
-- add column "consent_time" to table: "errands"
ALTER TABLE `errands` ADD COLUMN `consent_time` datetime NULL;
-- add column "consent_expire_time" to table: "errands"
ALTER TABLE `errands` ADD COLUMN `consent_expire_time` datetime NULL;
-- add column "consent_revoke_time" to table: "errands"
ALTER TABLE `errands` ADD COLUMN `consent_revoke_time` datetime NULL;
-- create "consents" table
CREATE TABLE `consents` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `errand_id` integer NOT NULL, `method` text NOT NULL, `resident_id` integer NULL, `openid` text NOT NULL DEFAULT (''), `code_id` integer NULL, `agent_id` integer NOT NULL, `witness` text NOT NULL DEFAULT (''), `region_id` text NOT NULL, `grant_time` datetime NOT NULL, `expire_time` datetime NOT NULL, `revoke_time` datetime NULL, `revoke_reason` text NOT NULL DEFAULT (''));
-- create index "consent_errand_id" to table: "consents"
CREATE UNIQUE INDEX `consent_errand_id` ON `consents` (`errand_id`);
-- create index "consent_region_id_grant_time" to table: "consents"
CREATE INDEX `consent_region_id_grant_time` ON `consents` (`region_id`, `grant_time`);
-- create "consent_codes" table
CREATE TABLE `consent_codes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `code_hash` text NOT NULL, `errand_id` integer NOT NULL, `agent_id` integer NOT NULL, `create_time` datetime NOT NULL, `expire_time` datetime NOT NULL, `used_time` datetime NULL, `resident_id` integer NULL);
-- create index "consentcode_code_hash" to table: "consent_codes"
CREATE UNIQUE INDEX `consentcode_code_hash` ON `consent_codes` (`code_hash`);
-- create index "consentcode_errand_id" to table: "consent_codes"
CREATE INDEX `consentcode_errand_id` ON `consent_codes` (`errand_id`);
