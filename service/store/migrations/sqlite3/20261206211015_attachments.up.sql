-- create "attachments" table
CREATE TABLE `attachments` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `errand_id` integer NOT NULL, `region_id` text NOT NULL, `service_point_id` integer NOT NULL, `kind` text NOT NULL, `state` text NOT NULL DEFAULT ('UPLOADING'), `file_name` text NOT NULL DEFAULT (''), `declared_type` text NOT NULL DEFAULT (''), `content_type` text NOT NULL DEFAULT (''), `size` integer NOT NULL DEFAULT (0), `width` integer NOT NULL DEFAULT (0), `height` integer NOT NULL DEFAULT (0), `orientation` integer NOT NULL DEFAULT (1), `sha256` text NOT NULL DEFAULT (''), `object_key` text NULL, `sealed_key` text NOT NULL DEFAULT (''), `thumbnail_key` text NOT NULL DEFAULT (''), `thumbnail_sealed_key` text NOT NULL DEFAULT (''), `request_id` text NULL, `uploader_id` integer NOT NULL, `create_time` datetime NOT NULL, `upload_time` datetime NULL, `delete_time` datetime NULL, `deleter_id` integer NULL, `delete_reason` text NOT NULL DEFAULT (''), `purge_time` datetime NULL);
-- create index "attachments_object_key_key" to table: "attachments"
CREATE UNIQUE INDEX `attachments_object_key_key` ON `attachments` (`object_key`);
-- create index "attachment_errand_id_create_time" to table: "attachments"
CREATE INDEX `attachment_errand_id_create_time` ON `attachments` (`errand_id`, `create_time`);
-- create index "attachment_uploader_id_request_id" to table: "attachments"
CREATE UNIQUE INDEX `attachment_uploader_id_request_id` ON `attachments` (`uploader_id`, `request_id`);
-- create index "attachment_state_create_time" to table: "attachments"
CREATE INDEX `attachment_state_create_time` ON `attachments` (`state`, `create_time`);
