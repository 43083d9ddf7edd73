-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_errand_types" table
CREATE TABLE `new_errand_types` (`id` text NOT NULL, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `name` text NOT NULL, `department` text NOT NULL, `time_limit_days` integer NOT NULL, `required_materials` json NOT NULL, `description` text NOT NULL DEFAULT (''), `active` bool NOT NULL DEFAULT (true), `availability` text NOT NULL DEFAULT ('CITY_WIDE'), PRIMARY KEY (`id`));
-- copy rows from old table "errand_types" to new temporary table "new_errand_types"
INSERT INTO `new_errand_types` (`id`, `create_time`, `update_time`, `version`, `name`, `department`, `time_limit_days`, `required_materials`, `description`, `active`) SELECT `id`, `create_time`, `update_time`, `version`, `name`, `department`, `time_limit_days`, `required_materials`, `description`, `active` FROM `errand_types`;
-- drop "errand_types" table after copying rows
DROP TABLE `errand_types`;
-- rename temporary table "new_errand_types" to "errand_types"
ALTER TABLE `new_errand_types` RENAME TO `errand_types`;
-- create "errand_type_admissions" table
CREATE TABLE `errand_type_admissions` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `errand_type_id` text NOT NULL, `region_id` text NOT NULL, `state` text NOT NULL DEFAULT ('PROPOSED'), `live` bool NULL, `new_type` bool NOT NULL DEFAULT (false), `type_name` text NOT NULL DEFAULT (''), `type_department` text NOT NULL DEFAULT (''), `type_time_limit_days` integer NOT NULL DEFAULT (0), `type_required_materials` json NOT NULL, `type_description` text NOT NULL DEFAULT (''), `reason` text NOT NULL DEFAULT (''), `proposer_user_id` integer NOT NULL, `decider_user_id` integer NULL, `decide_time` datetime NULL, `decision_note` text NOT NULL DEFAULT (''));
-- create index "errandtypeadmission_errand_type_id_region_id_live" to table: "errand_type_admissions"
CREATE UNIQUE INDEX `errandtypeadmission_errand_type_id_region_id_live` ON `errand_type_admissions` (`errand_type_id`, `region_id`, `live`);
-- create index "errandtypeadmission_region_id_state" to table: "errand_type_admissions"
CREATE INDEX `errandtypeadmission_region_id_state` ON `errand_type_admissions` (`region_id`, `state`);
-- create index "errandtypeadmission_state" to table: "errand_type_admissions"
CREATE INDEX `errandtypeadmission_state` ON `errand_type_admissions` (`state`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
