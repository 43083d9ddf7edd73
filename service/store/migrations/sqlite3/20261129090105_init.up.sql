-- create "audit_entries" table
CREATE TABLE `audit_entries` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `actor_user_id` integer NULL, `actor_role` text NOT NULL DEFAULT (''), `action` text NOT NULL, `resource` text NOT NULL DEFAULT (''), `region_id` text NOT NULL DEFAULT (''), `client_ip` text NOT NULL DEFAULT (''), `unmasked_read` bool NOT NULL DEFAULT (false), `create_time` datetime NOT NULL);
-- create index "auditentry_region_id_create_time" to table: "audit_entries"
CREATE INDEX `auditentry_region_id_create_time` ON `audit_entries` (`region_id`, `create_time`);
-- create index "auditentry_actor_user_id_create_time" to table: "audit_entries"
CREATE INDEX `auditentry_actor_user_id_create_time` ON `audit_entries` (`actor_user_id`, `create_time`);
-- create "calendar_days" table
CREATE TABLE `calendar_days` (`id` text NOT NULL, `kind` text NOT NULL, `name` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- create "errands" table
CREATE TABLE `errands` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `tracking_code` text NOT NULL, `region_id` text NOT NULL, `resident_name` text NOT NULL, `resident_phone_cipher` text NOT NULL, `resident_phone_hash` text NOT NULL, `resident_phone_last4` text NOT NULL, `resident_id_number_cipher` text NULL, `resident_id_number_hash` text NULL, `state` text NOT NULL, `channel` text NOT NULL DEFAULT ('WALK_IN'), `description` text NOT NULL DEFAULT (''), `materials` json NOT NULL, `forwarded_to` text NOT NULL DEFAULT (''), `missing_materials` json NOT NULL, `result` text NOT NULL DEFAULT (''), `cancel_reason` text NOT NULL DEFAULT (''), `accept_time` datetime NOT NULL, `due_time` datetime NOT NULL, `pause_time` datetime NULL, `close_time` datetime NULL, `change_seq` integer NOT NULL DEFAULT (0), `errand_type_id` text NOT NULL, `resident_id` integer NULL, `service_point_id` integer NOT NULL, `agent_id` integer NOT NULL, CONSTRAINT `errands_errand_types_errands` FOREIGN KEY (`errand_type_id`) REFERENCES `errand_types` (`id`) ON DELETE NO ACTION, CONSTRAINT `errands_residents_errands` FOREIGN KEY (`resident_id`) REFERENCES `residents` (`id`) ON DELETE SET NULL, CONSTRAINT `errands_service_points_errands` FOREIGN KEY (`service_point_id`) REFERENCES `service_points` (`id`) ON DELETE NO ACTION, CONSTRAINT `errands_users_errands` FOREIGN KEY (`agent_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
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
-- create index "errand_resident_id" to table: "errands"
CREATE INDEX `errand_resident_id` ON `errands` (`resident_id`);
-- create index "errand_update_time_id" to table: "errands"
CREATE INDEX `errand_update_time_id` ON `errands` (`update_time`, `id`);
-- create index "errand_change_seq" to table: "errands"
CREATE INDEX `errand_change_seq` ON `errands` (`change_seq`);
-- create "errand_events" table
CREATE TABLE `errand_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kind` text NOT NULL, `from_state` text NOT NULL DEFAULT (''), `to_state` text NOT NULL DEFAULT (''), `actor_kind` text NOT NULL, `actor_user_id` integer NULL, `note` text NOT NULL DEFAULT (''), `create_time` datetime NOT NULL, `errand_id` integer NOT NULL, CONSTRAINT `errand_events_errands_events` FOREIGN KEY (`errand_id`) REFERENCES `errands` (`id`) ON DELETE NO ACTION);
-- create index "errandevent_errand_id_id" to table: "errand_events"
CREATE INDEX `errandevent_errand_id_id` ON `errand_events` (`errand_id`, `id`);
-- create "errand_types" table
CREATE TABLE `errand_types` (`id` text NOT NULL, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `name` text NOT NULL, `department` text NOT NULL, `time_limit_days` integer NOT NULL, `required_materials` json NOT NULL, `description` text NOT NULL DEFAULT (''), `active` bool NOT NULL DEFAULT (true), PRIMARY KEY (`id`));
-- create "follow_ups" table
CREATE TABLE `follow_ups` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `errand_id` integer NOT NULL, `region_id` text NOT NULL, `state` text NOT NULL DEFAULT ('OPEN'), `note` text NOT NULL DEFAULT (''), `outcome` text NULL, `closed_by_user_id` integer NULL, `close_time` datetime NULL, `rating_id` integer NOT NULL, CONSTRAINT `follow_ups_ratings_follow_up` FOREIGN KEY (`rating_id`) REFERENCES `ratings` (`id`) ON DELETE NO ACTION);
-- create index "follow_ups_rating_id_key" to table: "follow_ups"
CREATE UNIQUE INDEX `follow_ups_rating_id_key` ON `follow_ups` (`rating_id`);
-- create index "followup_rating_id" to table: "follow_ups"
CREATE UNIQUE INDEX `followup_rating_id` ON `follow_ups` (`rating_id`);
-- create index "followup_region_id_state_create_time" to table: "follow_ups"
CREATE INDEX `followup_region_id_state_create_time` ON `follow_ups` (`region_id`, `state`, `create_time`);
-- create "idempotency_keys" table
CREATE TABLE `idempotency_keys` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `key` text NOT NULL, `request_hash` text NOT NULL, `response` blob NOT NULL, `create_time` datetime NOT NULL);
-- create index "idempotencykey_key" to table: "idempotency_keys"
CREATE UNIQUE INDEX `idempotencykey_key` ON `idempotency_keys` (`key`);
-- create index "idempotencykey_create_time" to table: "idempotency_keys"
CREATE INDEX `idempotencykey_create_time` ON `idempotency_keys` (`create_time`);
-- create "notifications" table
CREATE TABLE `notifications` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `kind` text NOT NULL, `errand_id` integer NOT NULL, `region_id` text NOT NULL, `dedup_key` text NOT NULL, `title` text NOT NULL, `body` text NOT NULL DEFAULT (''), `create_time` datetime NOT NULL, `read_time` datetime NULL, `user_id` integer NOT NULL, CONSTRAINT `notifications_users_notifications` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- create index "notification_dedup_key" to table: "notifications"
CREATE UNIQUE INDEX `notification_dedup_key` ON `notifications` (`dedup_key`);
-- create index "notification_user_id_create_time" to table: "notifications"
CREATE INDEX `notification_user_id_create_time` ON `notifications` (`user_id`, `create_time`);
-- create index "notification_region_id_kind_create_time" to table: "notifications"
CREATE INDEX `notification_region_id_kind_create_time` ON `notifications` (`region_id`, `kind`, `create_time`);
-- create "outbox_events" table
CREATE TABLE `outbox_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `topic` text NOT NULL, `aggregate` text NOT NULL, `payload` blob NOT NULL, `create_time` datetime NOT NULL, `sent_time` datetime NULL, `attempts` integer NOT NULL DEFAULT (0), `last_error` text NOT NULL DEFAULT (''));
-- create index "outboxevent_sent_time_id" to table: "outbox_events"
CREATE INDEX `outboxevent_sent_time_id` ON `outbox_events` (`sent_time`, `id`);
-- create "ratings" table
CREATE TABLE `ratings` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `service_point_id` integer NOT NULL, `region_id` text NOT NULL, `level` text NOT NULL, `comment` text NOT NULL DEFAULT (''), `create_time` datetime NOT NULL, `errand_id` integer NOT NULL, `resident_id` integer NULL, CONSTRAINT `ratings_errands_rating` FOREIGN KEY (`errand_id`) REFERENCES `errands` (`id`) ON DELETE NO ACTION, CONSTRAINT `ratings_residents_ratings` FOREIGN KEY (`resident_id`) REFERENCES `residents` (`id`) ON DELETE SET NULL);
-- create index "ratings_errand_id_key" to table: "ratings"
CREATE UNIQUE INDEX `ratings_errand_id_key` ON `ratings` (`errand_id`);
-- create index "rating_errand_id" to table: "ratings"
CREATE UNIQUE INDEX `rating_errand_id` ON `ratings` (`errand_id`);
-- create index "rating_region_id_create_time" to table: "ratings"
CREATE INDEX `rating_region_id_create_time` ON `ratings` (`region_id`, `create_time`);
-- create "refresh_tokens" table
CREATE TABLE `refresh_tokens` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `token_hash` text NOT NULL, `family` text NOT NULL, `create_time` datetime NOT NULL, `expire_time` datetime NOT NULL, `use_time` datetime NULL, `revoke_time` datetime NULL, `user_id` integer NOT NULL, CONSTRAINT `refresh_tokens_users_refresh_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE NO ACTION);
-- create index "refreshtoken_token_hash" to table: "refresh_tokens"
CREATE UNIQUE INDEX `refreshtoken_token_hash` ON `refresh_tokens` (`token_hash`);
-- create index "refreshtoken_family" to table: "refresh_tokens"
CREATE INDEX `refreshtoken_family` ON `refresh_tokens` (`family`);
-- create "regions" table
CREATE TABLE `regions` (`id` text NOT NULL, `name` text NOT NULL, `level` text NOT NULL, `parent_id` text NULL, PRIMARY KEY (`id`), CONSTRAINT `regions_regions_children` FOREIGN KEY (`parent_id`) REFERENCES `regions` (`id`) ON DELETE SET NULL);
-- create index "region_parent_id_id" to table: "regions"
CREATE INDEX `region_parent_id_id` ON `regions` (`parent_id`, `id`);
-- create "report_snapshots" table
CREATE TABLE `report_snapshots` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `region_id` text NOT NULL, `kind` text NOT NULL, `period` text NOT NULL, `file_name` text NOT NULL, `content` blob NOT NULL, `create_time` datetime NOT NULL);
-- create index "reportsnapshot_region_id_kind_period" to table: "report_snapshots"
CREATE UNIQUE INDEX `reportsnapshot_region_id_kind_period` ON `report_snapshots` (`region_id`, `kind`, `period`);
-- create "residents" table
CREATE TABLE `residents` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `openid` text NOT NULL, `phone_cipher` text NULL, `phone_hash` text NULL, `subscribed` bool NOT NULL DEFAULT (false));
-- create index "resident_openid" to table: "residents"
CREATE UNIQUE INDEX `resident_openid` ON `residents` (`openid`);
-- create index "resident_phone_hash" to table: "residents"
CREATE INDEX `resident_phone_hash` ON `residents` (`phone_hash`);
-- create "service_points" table
CREATE TABLE `service_points` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `name` text NOT NULL, `address` text NOT NULL DEFAULT (''), `phone` text NOT NULL DEFAULT (''), `active` bool NOT NULL DEFAULT (true), `region_id` text NOT NULL, CONSTRAINT `service_points_regions_service_points` FOREIGN KEY (`region_id`) REFERENCES `regions` (`id`) ON DELETE NO ACTION);
-- create index "servicepoint_region_id_id" to table: "service_points"
CREATE INDEX `servicepoint_region_id_id` ON `service_points` (`region_id`, `id`);
-- create "users" table
CREATE TABLE `users` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `create_time` datetime NOT NULL, `update_time` datetime NOT NULL, `version` integer NOT NULL DEFAULT (1), `phone` text NOT NULL, `display_name` text NOT NULL, `role` text NOT NULL, `region_id` text NOT NULL, `password_hash` text NOT NULL, `active` bool NOT NULL DEFAULT (true), `service_point_id` integer NULL, CONSTRAINT `users_service_points_agents` FOREIGN KEY (`service_point_id`) REFERENCES `service_points` (`id`) ON DELETE SET NULL);
-- create index "user_phone" to table: "users"
CREATE UNIQUE INDEX `user_phone` ON `users` (`phone`);
-- create index "user_region_id_role" to table: "users"
CREATE INDEX `user_region_id_role` ON `users` (`region_id`, `role`);
-- create index "user_service_point_id" to table: "users"
CREATE INDEX `user_service_point_id` ON `users` (`service_point_id`);
