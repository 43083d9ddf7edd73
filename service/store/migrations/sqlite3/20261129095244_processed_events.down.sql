-- reverse: create index "processedevent_create_time" to table: "processed_events"
DROP INDEX `processedevent_create_time`;
-- reverse: create index "processedevent_event_id_handler" to table: "processed_events"
DROP INDEX `processedevent_event_id_handler`;
-- reverse: create "processed_events" table
DROP TABLE `processed_events`;
