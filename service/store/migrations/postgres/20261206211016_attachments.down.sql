-- reverse: create index "attachments_object_key_key" to table: "attachments"
DROP INDEX "attachments_object_key_key";
-- reverse: create index "attachment_uploader_id_request_id" to table: "attachments"
DROP INDEX "attachment_uploader_id_request_id";
-- reverse: create index "attachment_state_create_time" to table: "attachments"
DROP INDEX "attachment_state_create_time";
-- reverse: create index "attachment_errand_id_create_time" to table: "attachments"
DROP INDEX "attachment_errand_id_create_time";
-- reverse: create "attachments" table
DROP TABLE "attachments";
