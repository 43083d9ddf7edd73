// Package redpoint holds assets generated at the module root that the
// binary embeds: the merged OpenAPI document of the REST API.
package redpoint

import _ "embed"

// OpenAPI is the generated OpenAPI 3 document of the REST API
// (tools/openapi3).
//
//go:embed gen/openapi/redpoint.openapi.json
var OpenAPI []byte
