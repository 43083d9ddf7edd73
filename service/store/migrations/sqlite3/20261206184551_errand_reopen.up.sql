-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_errands" table
CREATE TABLE `new_errands` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `tracking_code` text NOT NULL, `region_id` text NOT NULL, `resident_name` text NOT NULL, `resident_phone_cipher` text NOT NULL, `resident_phone_hash` text NOT NULL, `resident_phone_last4` text NOT NULL, `resident_id_number_cipher` text NULL, `resident_id_number_hash` text NULL, `state` text NOT NULL, `channel` text NOT NULL DEFAULT ('WALK_IN'), `description` text NOT NULL DEFAULT (''), `materials` json NOT NULL, `forwarded_to` text NOT NULL DEFAULT (''), `missing_materials` json NOT NULL, `result` text NOT NULL DEFAULT (''), `cancel_reason` text NOT NULL DEFAULT (''), `accept_time` datetime NOT NULL, `due_time` datetime NOT NULL, `pause_time` datetime NULL, `close_time` datetime NULL, `change_seq` integer NOT NULL DEFAULT (0), `working_days` integer NULL, `reopen_count` integer NOT NULL DEFAULT (0), `last_reopen_time` datetime NULL, `first_close_time` datetime NULL, `errand_type_id` text NOT NULL, `service_point_id` integer NOT NULL, `agent_id` integer NOT NULL, CONSTRAINT `errands_errand_types_errands` FOREIGN KEY (`errand_type_id`) REFERENCES `errand_types` (`id`) ON DELETE NO ACTION, CONSTRAINT `errands_service_points_errands` FOREIGN KEY (`service_point_id`) REFERENCES `service_points` (`id`) ON DELETE NO ACTION, CONSTRAINT `errands_users_errands` FOREIGN KEY (`agent_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- copy rows from old table "errands" to new temporary table "new_errands"
INSERT INTO `new_errands` (`id`, `create_time`, `update_time`, `version`, `tracking_code`, `region_id`, `resident_name`, `resident_phone_cipher`, `resident_phone_hash`, `resident_phone_last4`, `resident_id_number_cipher`, `resident_id_number_hash`, `state`, `channel`, `description`, `materials`, `forwarded_to`, `missing_materials`, `result`, `cancel_reason`, `accept_time`, `due_time`, `pause_time`, `close_time`, `change_seq`, `working_days`, `errand_type_id`, `service_point_id`, `agent_id`) SELECT `id`, `create_time`, `update_time`, `version`, `tracking_code`, `region_id`, `resident_name`, `resident_phone_cipher`, `resident_phone_hash`, `resident_phone_last4`, `resident_id_number_cipher`, `resident_id_number_hash`, `state`, `channel`, `description`, `materials`, `forwarded_to`, `missing_materials`, `result`, `cancel_reason`, `accept_time`, `due_time`, `pause_time`, `close_time`, `change_seq`, `working_days`, `errand_type_id`, `service_point_id`, `agent_id` FROM `errands`;
-- drop "errands" table after copying rows
DROP TABLE `errands`;
-- rename temporary table "new_errands" to "errands"
ALTER TABLE `new_errands` RENAME TO `errands`;
-- create index "errand_tracking_code" to table: "errands"
CREATE UNIQUE INDEX `errand_tracking_code` ON `errands` (`tracking_code`);
-- create index "errand_region_id_update_time" to table: "errands"
CREATE INDEX `errand_region_id_update_time` ON `errands` (`region_id`, `update_time`);
-- create index "errand_region_id_accept_time" to table: "errands"
CREATE INDEX `errand_region_id_accept_time` ON `errands` (`region_id`, `accept_time`);
-- create index "errand_service_point_id_state" to table: "errands"
CREATE INDEX `errand_service_point_id_state` ON `errands` (`service_point_id`, `state`);
-- create index "errand_agent_id_state" to table: "errands"
CREATE INDEX `errand_agent_id_state` ON `errands` (`agent_id`, `state`);
-- create index "errand_state_due_time" to table: "errands"
CREATE INDEX `errand_state_due_time` ON `errands` (`state`, `due_time`);
-- create index "errand_errand_type_id" to table: "errands"
CREATE INDEX `errand_errand_type_id` ON `errands` (`errand_type_id`);
-- create index "errand_resident_phone_hash" to table: "errands"
CREATE INDEX `errand_resident_phone_hash` ON `errands` (`resident_phone_hash`);
-- create index "errand_update_time_id" to table: "errands"
CREATE INDEX `errand_update_time_id` ON `errands` (`update_time`, `id`);
-- create index "errand_change_seq" to table: "errands"
CREATE INDEX `errand_change_seq` ON `errands` (`change_seq`);
-- create index "errand_region_id_close_time" to table: "errands"
CREATE INDEX `errand_region_id_close_time` ON `errands` (`region_id`, `close_time`);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
