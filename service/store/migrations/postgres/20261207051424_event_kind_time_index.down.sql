-- reverse: create index "errandevent_kind_create_time" to table: "errand_events"
DROP INDEX "errandevent_kind_create_time";
