-- modify "errands" table
ALTER TABLE "errands" ADD COLUMN "reopen_count" bigint NOT NULL DEFAULT 0, ADD COLUMN "last_reopen_time" timestamptz NULL, ADD COLUMN "first_close_time" timestamptz NULL;
