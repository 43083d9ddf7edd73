-- create "processed_events" table
CREATE TABLE `processed_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `event_id` integer NOT NULL, `handler` text NOT NULL, `create_time` datetime NOT NULL);
-- create index "processedevent_event_id_handler" to table: "processed_events"
CREATE UNIQUE INDEX `processedevent_event_id_handler` ON `processed_events` (`event_id`, `handler`);
-- create index "processedevent_create_time" to table: "processed_events"
CREATE INDEX `processedevent_create_time` ON `processed_events` (`create_time`);
