// Package schema is the data model, written by hand: one ent schema per
// table, with its fields, edges and indexes. The rest of ent/ is generated
// from it (`make generate`), and so are the migrations.
package schema
