-- reverse: create index "consentcode_errand_id" to table: "consent_codes"
DROP INDEX "consentcode_errand_id";
-- reverse: create index "consentcode_code_hash" to table: "consent_codes"
DROP INDEX "consentcode_code_hash";
-- reverse: create "consent_codes" table
DROP TABLE "consent_codes";
-- reverse: create index "consent_region_id_grant_time" to table: "consents"
DROP INDEX "consent_region_id_grant_time";
-- reverse: create index "consent_errand_id" to table: "consents"
DROP INDEX "consent_errand_id";
-- reverse: create "consents" table
DROP TABLE "consents";
-- reverse: modify "errands" table
ALTER TABLE "errands" DROP COLUMN "consent_revoke_time", DROP COLUMN "consent_expire_time", DROP COLUMN "consent_time", DROP COLUMN "consent_method";
