-- create "sequences" table
CREATE TABLE "sequences" ("id" character varying NOT NULL, "value" bigint NOT NULL DEFAULT 0, PRIMARY KEY ("id"));
