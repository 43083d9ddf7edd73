package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Attachment is a photo or scan on an errand: the resident's materials,
// the office's receipt, the result, a signed consent form. The bytes live
// in object storage, sealed with a data key of their own; the row holds
// that key sealed with the PII keyring (rotation re-seals the key, never
// the object).
//
// A row is made UPLOADING when the upload URL is issued and becomes READY
// in the transaction that follows the object's write; the orphan sweep
// removes objects without a READY row, and stale UPLOADING rows.
type Attachment struct{ ent.Schema }

// Fields of the Attachment.
func (Attachment) Fields() []ent.Field {
	return []ent.Field{
		field.Int("errand_id"),
		field.String("region_id").MaxLen(12).Comment("copied from the errand for scope checks"),
		field.Int("service_point_id").Comment("copied from the errand: its agents may upload and read"),
		field.Enum("kind").Values("MATERIAL", "RECEIPT", "RESULT", "CONSENT_FORM", "OTHER"),
		field.Enum("state").Values("UPLOADING", "READY", "PURGED").Default("UPLOADING"),
		field.String("file_name").Default("").MaxRuneLen(120).Comment("as the uploader named it, for downloads"),
		field.String("declared_type").Default("").MaxLen(100).Comment("the content type the uploader declared, checked against the bytes"),
		field.String("content_type").Default("").MaxLen(100).Comment("sniffed from the bytes"),
		field.Int64("size").Default(0).Comment("bytes of the stored (cleaned) content"),
		field.Int("width").Default(0),
		field.Int("height").Default(0),
		field.Int("orientation").Default(1).Comment("a JPEG's EXIF orientation, kept for the thumbnail"),
		field.String("sha256").Default("").MaxLen(64).Comment("hex SHA-256 of the stored content"),
		field.String("object_key").Optional().Nillable().Unique().MaxLen(200).Comment("set with READY: each upload attempt writes a key of its own"),
		field.String("sealed_key").Default("").MaxLen(200).Sensitive().Comment("the object's data key, sealed with the PII keyring"),
		field.String("thumbnail_key").Default("").MaxLen(200).Comment("set once the thumbnail job stored one"),
		field.String("thumbnail_sealed_key").Default("").MaxLen(200).Sensitive(),
		field.String("request_id").Optional().Nillable().MaxLen(64).Comment("the create's request_id: a retry finds the row it made"),
		field.Int("uploader_id"),
		field.Time("create_time").Default(now).Immutable(),
		field.Time("upload_time").Optional().Nillable().Comment("when the bytes were stored (READY)"),
		field.Time("delete_time").Optional().Nillable().Comment("soft delete"),
		field.Int("deleter_id").Optional().Nillable(),
		field.String("delete_reason").Default("").MaxRuneLen(2000),
		field.Time("purge_time").Optional().Nillable().Comment("when the content was removed from storage"),
	}
}

// Indexes of the Attachment.
func (Attachment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("errand_id", "create_time"),
		index.Fields("uploader_id", "request_id").Unique(),
		index.Fields("state", "create_time"),
	}
}
