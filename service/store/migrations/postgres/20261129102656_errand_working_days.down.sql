-- reverse: create index "errand_region_id_close_time" to table: "errands"
DROP INDEX "errand_region_id_close_time";
-- reverse: modify "errands" table
ALTER TABLE "errands" DROP COLUMN "working_days";
