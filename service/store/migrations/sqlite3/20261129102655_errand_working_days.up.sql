-- add column "working_days" to table: "errands"
ALTER TABLE `errands` ADD COLUMN `working_days` integer NULL;
-- create index "errand_region_id_close_time" to table: "errands"
CREATE INDEX `errand_region_id_close_time` ON `errands` (`region_id`, `close_time`);
