-- reverse: create index "errand_region_id_close_time" to table: "errands"
DROP INDEX `errand_region_id_close_time`;
-- reverse: create index "errand_change_seq" to table: "errands"
DROP INDEX `errand_change_seq`;
-- reverse: create index "errand_update_time_id" to table: "errands"
DROP INDEX `errand_update_time_id`;
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
-- reverse: create "new_errands" table
DROP TABLE `new_errands`;
