-- reverse: create index "errand_region_id_close_time" to table: "errands"
DROP INDEX `errand_region_id_close_time`;
-- reverse: add column "working_days" to table: "errands"
ALTER TABLE `errands` DROP COLUMN `working_days`;
