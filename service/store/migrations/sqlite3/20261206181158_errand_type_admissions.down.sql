-- reverse: create index "errandtypeadmission_state" to table: "errand_type_admissions"
DROP INDEX `errandtypeadmission_state`;
-- reverse: create index "errandtypeadmission_region_id_state" to table: "errand_type_admissions"
DROP INDEX `errandtypeadmission_region_id_state`;
-- reverse: create index "errandtypeadmission_errand_type_id_region_id_live" to table: "errand_type_admissions"
DROP INDEX `errandtypeadmission_errand_type_id_region_id_live`;
-- reverse: create "errand_type_admissions" table
DROP TABLE `errand_type_admissions`;
-- reverse: create "new_errand_types" table
DROP TABLE `new_errand_types`;
