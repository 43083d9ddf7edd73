package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/changzhi/redpoint"
	"github.com/changzhi/redpoint/service/access"
)

// TestOpenAPISecurityMatchesThePolicyTable: the document a client
// developer generates from says which operations need the bearer token,
// and it says what the server enforces: an operation is marked public
// (security: []) exactly when its policy row is Public, and every
// operation has a row.
func TestOpenAPISecurityMatchesThePolicyTable(t *testing.T) {
	var doc struct {
		Security   []map[string][]string
		Components struct {
			SecuritySchemes map[string]struct{ Type, Scheme string }
		}
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(redpoint.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if def := doc.Components.SecuritySchemes["bearer"]; def.Type != "http" || def.Scheme != "bearer" {
		t.Fatalf("securitySchemes.bearer = %+v, want HTTP bearer authentication", def)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Fatalf("document security = %v, want bearer by default", doc.Security)
	}
	seen := 0
	for path, ops := range doc.Paths {
		for verb, raw := range ops {
			var op struct {
				OperationID string
				Security    *[]map[string][]string
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" {
				continue // path-level parameters, not an operation
			}
			if strings.HasPrefix(path, "/v1/uploads/") || strings.HasPrefix(path, "/v1/files/") {
				// The attachments' raw-byte routes are no RPC: the signed
				// token in the path authorises them, never a bearer.
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s %s: a signed-URL route must say security: []", verb, path)
				}
				continue
			}
			// The POST twin of a PATCH (X-HTTP-Method-Override) is the same RPC.
			service, rpc, ok := strings.Cut(strings.TrimSuffix(op.OperationID, "_MethodOverride"), "_")
			if !ok {
				t.Errorf("%s %s: operationId %q is not Service_Method", verb, path, op.OperationID)
				continue
			}
			method := "/redpoint.v1." + service + "/" + rpc
			policy, ok := access.Policies[method]
			if !ok {
				t.Errorf("%s %s: %s has no policy row", verb, path, method)
				continue
			}
			public := op.Security != nil && len(*op.Security) == 0
			if public != policy.Public {
				t.Errorf("%s %s (%s): the document says public=%v, the policy table %v", verb, path, method, public, policy.Public)
			}
			seen++
		}
	}
	if seen < 50 {
		t.Errorf("checked %d operations; the document should have every RPC's", seen)
	}
}
