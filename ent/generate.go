// Package ent holds the generated data-access code; the hand-written model
// is in ./schema. Regenerate with `make generate`.
package ent

//go:generate go tool ent generate --feature sql/versioned-migration,sql/upsert,sql/modifier,sql/execquery,sql/lock ./schema
