-- reverse: create index "resident_phone_hash" to table: "residents"
DROP INDEX "resident_phone_hash";
-- reverse: drop index "resident_phone_hash" from table: "residents"
CREATE INDEX "resident_phone_hash" ON "residents" ("phone_hash");
-- reverse: modify "errands" table
ALTER TABLE "errands" ADD COLUMN "resident_id" bigint NULL;
-- reverse: modify "audit_entries" table
ALTER TABLE "audit_entries" DROP COLUMN "actor_resident_id";
