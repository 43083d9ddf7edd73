-- reverse: create index "errand_region_id_close_time" to table: "errands"
DROP INDEX "errand_region_id_close_time";
-- reverse: drop index "errand_region_id_close_time" from table: "errands"
CREATE INDEX "errand_region_id_close_time" ON "errands" ("region_id", "close_time");
