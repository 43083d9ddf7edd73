// Package redpoint holds assets generated at the module root that the
// binary embeds: the merged OpenAPI document of the REST API.
package redpoint

import _ "embed"

// OpenAPI is the generated OpenAPI v2 document of the REST API.
//
//go:embed gen/openapi/redpoint.swagger.json
var OpenAPI []byte
