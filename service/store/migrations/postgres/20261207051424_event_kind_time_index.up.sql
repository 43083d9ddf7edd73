-- create index "errandevent_kind_create_time" to table: "errand_events"
CREATE INDEX "errandevent_kind_create_time" ON "errand_events" ("kind", "create_time");
