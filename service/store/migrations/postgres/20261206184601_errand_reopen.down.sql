-- reverse: modify "errands" table
ALTER TABLE "errands" DROP COLUMN "first_close_time", DROP COLUMN "last_reopen_time", DROP COLUMN "reopen_count";
