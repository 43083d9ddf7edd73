// Command openapi3 turns the Swagger 2.0 document protoc-gen-openapiv2
// writes from the protos into the OpenAPI 3.0 document the server serves
// and client generators read (gen/openapi/redpoint.openapi.json).
//
// Why a conversion: protoc-gen-openapiv2 ships with the gateway that serves
// the routes, so the two can't disagree on a path; it writes Swagger 2.0
// only, and openapi-typescript (and most current tooling) reads 3.x. The
// conversion is kin-openapi's openapi2conv; then, what Swagger 2.0 can't
// say or the protos don't:
//
//   - the bearer scheme as HTTP bearer authentication;
//   - the error answers every client meets (400, 401, 403, 404, 409, 413,
//     429, 503), each a google.rpc.Status whose details are typed:
//     ErrorInfo, BadRequest, LocalizedMessage, told apart by @type;
//   - 304 with ETag and If-None-Match on the operations whose protos
//     declare a 304;
//   - file downloads (google.api.HttpBody) as binary;
//   - the attachments' raw-byte routes, served beside the gateway
//     (service/attachments): PUT /v1/uploads/{token}, GET /v1/files/{token};
//   - servers.
//
// Run by `make generate`; its output is committed and embedded.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

func main() {
	in := flag.String("in", "gen/openapi/redpoint.swagger.json", "the Swagger 2.0 document")
	out := flag.String("out", "gen/openapi/redpoint.openapi.json", "the OpenAPI 3.0 document to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		log.Fatalf("openapi3: %v", err)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	raw, err = keepRefSiblings(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	b, err := json.Marshal(doc3)
	if err != nil {
		return err
	}
	// Any error answer a proto declares itself gets the typed Status
	// (refine declares it) in place of the generator's untyped one.
	b = bytes.ReplaceAll(b, []byte(`"#/components/schemas/rpcStatus"`), []byte(`"#/components/schemas/Status"`))
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if err := refine(doc); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	// What is written must load as valid OpenAPI 3.
	loaded, err := openapi3.NewLoader().LoadFromData(buf.Bytes())
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

type object = map[string]any

func obj(v any) object {
	o, _ := v.(object)
	if o == nil {
		return object{}
	}
	return o
}

// errorAnswers are the error statuses declared per operation, with when
// each applies. Everything else (500, 504 …) is `default`.
var errorAnswers = []struct {
	status, name, description string
	applies                   func(op operation) bool
}{
	{"400", "BadRequest", "请求有误：ErrorInfo.reason 为 INVALID_ARGUMENT（BadRequest 列出字段）、MALFORMED_BODY、UNKNOWN_FIELD 等", always},
	{"401", "Unauthenticated", "未登录或令牌无效（WWW-Authenticate: Bearer）；登录时为密码错误，刷新时为令牌已用过或已吊销", func(op operation) bool {
		return op.secured || strings.HasPrefix(op.path, "/v1/auth:") || strings.HasPrefix(op.path, "/v1/residents:")
	}},
	{"403", "PermissionDenied", "无权执行此操作或访问该资源", func(op operation) bool { return op.secured }},
	{"404", "NotFound", "资源不存在（路径中的资源、parent 所指的上级，或查询不到的事项）", func(op operation) bool {
		return strings.Contains(op.path, "{") || op.parent || strings.HasSuffix(op.path, ":lookup")
	}},
	{"409", "Conflict", "冲突：数据已被他人修改（ETAG_MISMATCH），或对象已存在（ALREADY_RATED 等）", func(op operation) bool { return op.method != "get" }},
	{"413", "TooLarge", "请求内容过大（REQUEST_TOO_LARGE）", func(op operation) bool { return op.body }},
	{"429", "RateLimited", "操作过于频繁（RATE_LIMITED）；稍后重试", always},
	{"503", "Unavailable", "服务暂不可用（UNAVAILABLE）；可稍后重试", always},
}

func always(operation) bool { return true }

const xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

type operation struct {
	path, method  string
	secured, body bool
	parent        bool // names its parent resource in the query
}

func refine(doc object) error {
	doc["servers"] = []any{
		object{"url": "http://localhost:8080", "description": "make demo（本地演示）；生产环境的地址由部署决定"},
	}
	comps := obj(doc["components"])
	doc["components"] = comps
	schemas := obj(comps["schemas"])
	comps["schemas"] = schemas
	comps["securitySchemes"] = object{"bearer": object{
		"type":        "http",
		"scheme":      "bearer",
		"description": "AuthService.Login 或 ResidentService.WechatLogin 返回的访问令牌：`Authorization: Bearer <token>`。",
	}}
	addErrorSchemas(schemas)
	responses := object{}
	for _, e := range errorAnswers {
		responses[e.name] = errorResponse(e.description)
	}
	responses["Error"] = errorResponse("其他错误（500、504 等）")
	comps["responses"] = responses

	paths := obj(doc["paths"])
	for _, path := range sortedKeys(paths) {
		item := obj(paths[path])
		for _, method := range sortedKeys(item) {
			op, ok := item[method].(object)
			if !ok || op["operationId"] == nil {
				continue
			}
			security, hasOwn := op["security"].([]any)
			o := operation{path: path, method: method, secured: !hasOwn || len(security) > 0, body: op["requestBody"] != nil, parent: hasParameter(op, "parent")}
			if err := refineOperation(op, o); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		if patch, ok := item["patch"].(object); ok && item["post"] == nil {
			item["post"] = patchAsPost(patch)
		}
	}
	addFileRoutes(paths)
	// The untyped Status and Any the generator declared are replaced, and
	// schemas only parameters used (enums, inlined there) go.
	delete(schemas, "rpcStatus")
	delete(schemas, "protobufAny")
	delete(schemas, "apiHttpBody")
	pruneSchemas(doc, schemas)
	return nil
}

// addFileRoutes declares the attachments' routes that carry raw bytes,
// which no proto describes: the signed token in the path authorises them
// (no bearer).
func addFileRoutes(paths object) {
	token := []any{object{"in": "path", "name": "token", "required": true, "schema": object{"type": "string"},
		"description": "签名令牌：CreateAttachmentUpload 的 uploadUri，或附件的 downloadUri / thumbnailUri 中的最后一段（10 分钟内有效）"}}
	binary := object{"type": "string", "format": "binary"}
	files := object{}
	for _, t := range []string{"image/jpeg", "image/png", "image/heic", "application/pdf"} {
		files[t] = object{"schema": binary}
	}
	errs := func(codes ...string) object {
		out := object{"default": object{"$ref": "#/components/responses/Error"}}
		for _, c := range codes {
			for _, e := range errorAnswers {
				if e.status == c {
					out[c] = object{"$ref": "#/components/responses/" + e.name}
				}
			}
		}
		return out
	}
	upload := errs("400", "403", "404", "503")
	upload["200"] = object{"description": "已保存的附件（READY）；同一链接再次上传时返回已保存的附件，不再读取请求体",
		"content": object{"application/json": object{"schema": object{"$ref": "#/components/schemas/v1Attachment"}}}}
	uploadBody := object{}
	for t, v := range files {
		uploadBody[t] = v
	}
	uploadBody["application/octet-stream"] = object{"schema": binary}
	paths["/v1/uploads/{token}"] = object{"put": object{
		"operationId": "AttachmentService_UploadAttachmentContent",
		"tags":        []any{"AttachmentService"},
		"summary":     "Upload an attachment's bytes to the signed uploadUri (at most 10 MB; JPEG, PNG, HEIC or PDF, told by the bytes).",
		"description": "文件内容作为请求体原样发送。类型按文件内容判断：Content-Type 与内容不符时拒绝（400，字段 content_type）；超过 10 MB、空文件、无法识别或损坏的文件为 400（字段 content），均不保存任何内容。JPEG、PNG 的 EXIF（含 GPS）等元数据在保存前去除。",
		"security":    []any{},
		"parameters":  token,
		"requestBody": object{"required": true, "content": uploadBody},
		"responses":   upload,
	}}
	download := errs("400", "403", "404", "503")
	download["200"] = object{"description": "文件内容（已解密）；缩略图为不超过 256 像素的 JPEG。每次下载记入审计日志。", "content": files}
	paths["/v1/files/{token}"] = object{"get": object{
		"operationId": "AttachmentService_DownloadAttachmentContent",
		"tags":        []any{"AttachmentService"},
		"summary":     "Download an attachment or its thumbnail from a signed downloadUri / thumbnailUri.",
		"description": "附件已删除或已按期清除时为 400 ATTACHMENT_GONE；链接过期或被改动时为 403 URL_EXPIRED。加 ?download=1 以 Content-Disposition: attachment 下载。",
		"security":    []any{},
		"parameters": append(token, object{"in": "query", "name": "download", "required": false, "schema": object{"type": "string"},
			"description": "非空时以附件形式下载（Content-Disposition: attachment）"}),
		"responses": download,
	}}
}

// pruneSchemas deletes the schemas nothing refers to.
func pruneSchemas(doc, schemas object) {
	for {
		text := mustJSON(doc)
		removed := false
		for name := range schemas {
			if !strings.Contains(text, `"#/components/schemas/`+name+`"`) {
				delete(schemas, name)
				removed = true
			}
		}
		if !removed {
			return
		}
	}
}

// keepRefSiblings rewrites {"$ref": …, "description": …} — a field's
// comment beside its message or enum type, which protoc-gen-openapiv2
// writes and both Swagger 2.0 and OpenAPI 3.0 ignore — as
// {"allOf": [{"$ref": …}], "description": …}, so the comment reaches the
// client's generated types.
func keepRefSiblings(raw []byte) ([]byte, error) {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			if ref, ok := v["$ref"]; ok && len(v) > 1 {
				delete(v, "$ref")
				v["allOf"] = []any{object{"$ref": ref}}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return json.Marshal(doc)
}

func refineOperation(op object, o operation) error {
	rs := obj(op["responses"])
	op["responses"] = rs
	delete(rs, "default")
	for _, e := range errorAnswers {
		if e.applies(o) {
			rs[e.status] = object{"$ref": "#/components/responses/" + e.name}
		}
	}
	rs["default"] = object{"$ref": "#/components/responses/Error"}

	if o.method == "patch" && !hasParameter(op, "updateMask") {
		// protoc-gen-openapiv2 leaves update_mask out of a PATCH whose
		// body is the resource (the gateway derives a mask from the
		// body's keys), but the gateway takes it as a query parameter too.
		params, _ := op["parameters"].([]any)
		op["parameters"] = append(params, object{
			"name": "updateMask", "in": "query", "required": false,
			"description": "要修改的字段，逗号分隔，JSON 名（residentName）或 proto 名（resident_name）均可；省略时为请求体中的字段",
			"schema":      object{"type": "string"},
		})
	}

	ok := obj(rs["200"])
	if strings.Contains(mustJSON(ok), "#/components/schemas/apiHttpBody") {
		// A file: its own content type and bytes, named by
		// Content-Disposition.
		// Every file the API serves is an Excel workbook (service/report).
		ok["content"] = object{xlsx: object{"schema": object{"type": "string", "format": "binary"}}}
		ok["description"] = "Excel 文件，文件名见 Content-Disposition"
		ok["headers"] = object{"Content-Disposition": object{"schema": object{"type": "string"}, "description": "attachment; filename*=UTF-8''…"}}
	}
	if nm, declared := rs["304"].(object); declared {
		delete(nm, "content")
		nm["headers"] = object{"ETag": etagHeader()}
		ok["headers"] = object{"ETag": etagHeader()}
		params, _ := op["parameters"].([]any)
		op["parameters"] = append(params, object{
			"name": "If-None-Match", "in": "header", "required": false,
			"description": "上次应答的 ETag；未变化时返回 304、没有正文",
			"schema":      object{"type": "string"},
		})
	}
	return nil
}

// patchAsPost is the POST twin of a PATCH operation that the server takes
// with X-HTTP-Method-Override: PATCH (service/server), for HTTP clients
// without PATCH such as the mini-program's wx.request.
func patchAsPost(patch object) object {
	var post object
	if err := json.Unmarshal([]byte(mustJSON(patch)), &post); err != nil {
		panic(err) // a copy of what was just marshalled
	}
	post["operationId"] = fmt.Sprint(patch["operationId"]) + "_MethodOverride"
	post["summary"] = fmt.Sprint(patch["summary"]) + " (POST with X-HTTP-Method-Override: PATCH, for clients without PATCH)"
	params, _ := post["parameters"].([]any)
	post["parameters"] = append(params, object{
		"name": "X-HTTP-Method-Override", "in": "header", "required": true,
		"description": "PATCH：不支持 PATCH 的客户端（如小程序的 wx.request）以 POST 发送",
		"schema":      object{"type": "string", "enum": []any{"PATCH"}},
	})
	return post
}

func hasParameter(op object, name string) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		if obj(p)["name"] == name {
			return true
		}
	}
	return false
}

func etagHeader() object {
	return object{"description": "应答内容的标识，下次请求放在 If-None-Match 中", "schema": object{"type": "string"}}
}

func errorResponse(description string) object {
	return object{
		"description": description,
		"content": object{"application/json": object{
			"schema": object{"$ref": "#/components/schemas/Status"},
		}},
	}
}

// addErrorSchemas declares google.rpc.Status with the three details every
// redpoint error may carry.
func addErrorSchemas(schemas object) {
	str := func(desc string) object { return object{"type": "string", "description": desc} }
	typeURL := func(name string) object {
		return object{"type": "string", "enum": []any{"type.googleapis.com/google.rpc." + name}}
	}
	schemas["Status"] = object{
		"type":        "object",
		"description": "Every error answer: the gRPC code, the zh-CN message, and typed details.",
		"required":    []any{"code", "message", "details"},
		"properties": object{
			"code":    object{"type": "integer", "format": "int32", "description": "The gRPC status code (3 INVALID_ARGUMENT, 5 NOT_FOUND …)."},
			"message": str("The zh-CN message, the same as LocalizedMessage's."),
			"details": object{
				"type": "array",
				"items": object{
					"oneOf": []any{
						object{"$ref": "#/components/schemas/ErrorInfo"},
						object{"$ref": "#/components/schemas/LocalizedMessage"},
						object{"$ref": "#/components/schemas/BadRequest"},
					},
					"discriminator": object{
						"propertyName": "@type",
						"mapping": object{
							"type.googleapis.com/google.rpc.ErrorInfo":        "#/components/schemas/ErrorInfo",
							"type.googleapis.com/google.rpc.LocalizedMessage": "#/components/schemas/LocalizedMessage",
							"type.googleapis.com/google.rpc.BadRequest":       "#/components/schemas/BadRequest",
						},
					},
				},
			},
		},
	}
	schemas["ErrorInfo"] = object{
		"type":        "object",
		"description": "Why the request failed, as a stable machine-readable reason (see docs/api.md, Reasons).",
		"required":    []any{"@type", "reason", "domain"},
		"properties": object{
			"@type":    typeURL("ErrorInfo"),
			"reason":   str("UPPER_SNAKE_CASE, stable: INVALID_ARGUMENT, ETAG_MISMATCH, RATE_LIMITED …"),
			"domain":   str("Always `redpoint`."),
			"metadata": object{"type": "object", "additionalProperties": object{"type": "string"}, "description": "Facts about this failure, e.g. `detail`: the parser's own text."},
		},
	}
	schemas["LocalizedMessage"] = object{
		"type":        "object",
		"description": "The message to show the user.",
		"required":    []any{"@type", "locale", "message"},
		"properties": object{
			"@type":   typeURL("LocalizedMessage"),
			"locale":  str("Always `zh-CN`."),
			"message": str("The zh-CN text."),
		},
	}
	schemas["BadRequest"] = object{
		"type":        "object",
		"description": "The request fields that are wrong, one violation each.",
		"required":    []any{"@type", "fieldViolations"},
		"properties": object{
			"@type": typeURL("BadRequest"),
			"fieldViolations": object{"type": "array", "items": object{
				"type":     "object",
				"required": []any{"field", "description"},
				"properties": object{
					"field":       str("The field's proto path, e.g. `errand.resident_phone`."),
					"description": str("What is wrong, in zh-CN."),
					"reason":      str("Unused; empty."),
				},
			}},
		},
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys(m object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
