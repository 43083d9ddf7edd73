-- reverse: create index "user_service_point_id" to table: "users"
DROP INDEX `user_service_point_id`;
-- reverse: create index "user_region_id_role" to table: "users"
DROP INDEX `user_region_id_role`;
-- reverse: create index "user_phone" to table: "users"
DROP INDEX `user_phone`;
-- reverse: create "users" table
DROP TABLE `users`;
-- reverse: create index "servicepoint_region_id_id" to table: "service_points"
DROP INDEX `servicepoint_region_id_id`;
-- reverse: create "service_points" table
DROP TABLE `service_points`;
-- reverse: create index "resident_phone_hash" to table: "residents"
DROP INDEX `resident_phone_hash`;
-- reverse: create index "resident_openid" to table: "residents"
DROP INDEX `resident_openid`;
-- reverse: create "residents" table
DROP TABLE `residents`;
-- reverse: create index "reportsnapshot_region_id_kind_period" to table: "report_snapshots"
DROP INDEX `reportsnapshot_region_id_kind_period`;
-- reverse: create "report_snapshots" table
DROP TABLE `report_snapshots`;
-- reverse: create index "region_parent_id_id" to table: "regions"
DROP INDEX `region_parent_id_id`;
-- reverse: create "regions" table
DROP TABLE `regions`;
-- reverse: create index "refreshtoken_family" to table: "refresh_tokens"
DROP INDEX `refreshtoken_family`;
-- reverse: create index "refreshtoken_token_hash" to table: "refresh_tokens"
DROP INDEX `refreshtoken_token_hash`;
-- reverse: create "refresh_tokens" table
DROP TABLE `refresh_tokens`;
-- reverse: create index "rating_region_id_create_time" to table: "ratings"
DROP INDEX `rating_region_id_create_time`;
-- reverse: create index "rating_errand_id" to table: "ratings"
DROP INDEX `rating_errand_id`;
-- reverse: create index "ratings_errand_id_key" to table: "ratings"
DROP INDEX `ratings_errand_id_key`;
-- reverse: create "ratings" table
DROP TABLE `ratings`;
-- reverse: create index "outboxevent_sent_time_id" to table: "outbox_events"
DROP INDEX `outboxevent_sent_time_id`;
-- reverse: create "outbox_events" table
DROP TABLE `outbox_events`;
-- reverse: create index "notification_region_id_kind_create_time" to table: "notifications"
DROP INDEX `notification_region_id_kind_create_time`;
-- reverse: create index "notification_user_id_create_time" to table: "notifications"
DROP INDEX `notification_user_id_create_time`;
-- reverse: create index "notification_dedup_key" to table: "notifications"
DROP INDEX `notification_dedup_key`;
-- reverse: create "notifications" table
DROP TABLE `notifications`;
-- reverse: create index "idempotencykey_create_time" to table: "idempotency_keys"
DROP INDEX `idempotencykey_create_time`;
-- reverse: create index "idempotencykey_key" to table: "idempotency_keys"
DROP INDEX `idempotencykey_key`;
-- reverse: create "idempotency_keys" table
DROP TABLE `idempotency_keys`;
-- reverse: create index "followup_region_id_state_create_time" to table: "follow_ups"
DROP INDEX `followup_region_id_state_create_time`;
-- reverse: create index "followup_rating_id" to table: "follow_ups"
DROP INDEX `followup_rating_id`;
-- reverse: create index "follow_ups_rating_id_key" to table: "follow_ups"
DROP INDEX `follow_ups_rating_id_key`;
-- reverse: create "follow_ups" table
DROP TABLE `follow_ups`;
-- reverse: create "errand_types" table
DROP TABLE `errand_types`;
-- reverse: create index "errandevent_errand_id_id" to table: "errand_events"
DROP INDEX `errandevent_errand_id_id`;
-- reverse: create "errand_events" table
DROP TABLE `errand_events`;
-- reverse: create index "errand_change_seq" to table: "errands"
DROP INDEX `errand_change_seq`;
-- reverse: create index "errand_update_time_id" to table: "errands"
DROP INDEX `errand_update_time_id`;
-- reverse: create index "errand_resident_id" to table: "errands"
DROP INDEX `errand_resident_id`;
-- reverse: create index "errand_resident_phone_hash" to table: "errands"
DROP INDEX `errand_resident_phone_hash`;
-- reverse: create index "errand_errand_type_id" to table: "errands"
DROP INDEX `errand_errand_type_id`;
-- reverse: create index "errand_state_due_time" to table: "errands"
DROP INDEX `errand_state_due_time`;
-- reverse: create index "errand_agent_id_state" to table: "errands"
DROP INDEX `errand_agent_id_state`;
-- reverse: create index "errand_service_point_id_state" to table: "errands"
DROP INDEX `errand_service_point_id_state`;
-- reverse: create index "errand_region_id_accept_time" to table: "errands"
DROP INDEX `errand_region_id_accept_time`;
-- reverse: create index "errand_region_id_update_time" to table: "errands"
DROP INDEX `errand_region_id_update_time`;
-- reverse: create index "errand_tracking_code" to table: "errands"
DROP INDEX `errand_tracking_code`;
-- reverse: create "errands" table
DROP TABLE `errands`;
-- reverse: create "calendar_days" table
DROP TABLE `calendar_days`;
-- reverse: create index "auditentry_actor_user_id_create_time" to table: "audit_entries"
DROP INDEX `auditentry_actor_user_id_create_time`;
-- reverse: create index "auditentry_region_id_create_time" to table: "audit_entries"
DROP INDEX `auditentry_region_id_create_time`;
-- reverse: create "audit_entries" table
DROP TABLE `audit_entries`;
