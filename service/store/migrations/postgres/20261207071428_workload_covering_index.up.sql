-- drop index "errand_region_id_close_time" from table: "errands"
DROP INDEX "errand_region_id_close_time";
-- create index "errand_region_id_close_time" to table: "errands"
CREATE INDEX "errand_region_id_close_time" ON "errands" ("region_id", "close_time") INCLUDE ("state", "accept_time", "due_time", "pause_time", "consent_time", "consent_revoke_time", "working_days", "agent_id", "service_point_id", "errand_type_id");
