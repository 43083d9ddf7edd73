-- a phone belongs to one resident at a time: where several bound the same
-- number, the one changed last (the likeliest latest binder) keeps it
UPDATE residents SET phone_cipher = NULL, phone_hash = NULL WHERE phone_hash IS NOT NULL AND EXISTS (SELECT 1 FROM residents AS newer WHERE newer.phone_hash = residents.phone_hash AND (newer.update_time > residents.update_time OR (newer.update_time = residents.update_time AND newer.id > residents.id)));
-- modify "audit_entries" table
ALTER TABLE "audit_entries" ADD COLUMN "actor_resident_id" bigint NULL;
-- modify "errands" table
ALTER TABLE "errands" DROP COLUMN "resident_id";
-- drop index "resident_phone_hash" from table: "residents"
DROP INDEX "resident_phone_hash";
-- create index "resident_phone_hash" to table: "residents"
CREATE UNIQUE INDEX "resident_phone_hash" ON "residents" ("phone_hash");
