package api

import (
	"regexp"
	"strings"
)

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// openAPI builds the OpenAPI 3.1 document from the route table.
func openAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range routeTable {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": strings.ToLower(rt.method) + strings.ReplaceAll(pathParam.ReplaceAllString(rt.path, "By_$1"), "/", "_"),
			"responses": map[string]any{
				"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{}}},
			},
		}
		if rt.role != "" {
			op["security"] = []map[string][]string{{"apiKey": {}}}
			op["x-role"] = string(rt.role)
			resp := op["responses"].(map[string]any)
			resp["401"] = map[string]any{"description": "Missing, invalid or revoked API key", "content": errorContent}
			resp["403"] = map[string]any{"description": "The key's role may not do this (needs " + string(rt.role) + ")", "content": errorContent}
			resp["429"] = map[string]any{"description": "Rate limited (per key, or failed authentications per address); see Retry-After", "content": errorContent}
		}
		if rt.changesBanks {
			op["x-changes-banks"] = true
		}
		if len(rt.bodies) > 0 {
			content := map[string]any{}
			for _, b := range rt.bodies {
				content[b.mediaType] = map[string]any{}
			}
			op["requestBody"] = map[string]any{"content": content}
		}
		resp := op["responses"].(map[string]any)
		if sc, ok := opSchemas[rt.method+" "+rt.path]; ok {
			if sc.request != nil {
				op["requestBody"] = map[string]any{"required": true, "content": sc.request}
			}
			resp["200"] = map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": ref(sc.response)}}}
			for code, why := range sc.errors {
				resp[code] = map[string]any{"description": why, "content": errorContent}
			}
		}
		if rb, ok := op["requestBody"].(map[string]any); ok {
			// Each media type says which size limit applies (Config:
			// json = MaxBodyBytes, upload = MaxUploadBytes, import = 64 × MaxBodyBytes).
			content := map[string]any{}
			for mt, v := range rb["content"].(map[string]any) {
				c := map[string]any{}
				for k, x := range v.(map[string]any) {
					c[k] = x
				}
				for _, b := range rt.bodies {
					if b.mediaType == mt {
						c["x-body-limit"] = b.limit.String()
					}
				}
				content[mt] = c
			}
			rb["content"] = content
		}
		if rt.role != "" {
			resp["400"] = map[string]any{"description": "Bad request (malformed JSON, unknown field, bad hash, unknown type)", "content": errorContent}
			resp["500"] = map[string]any{"description": "Internal error (the store failed)", "content": errorContent}
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	paths["/openapi.json"] = map[string]any{"get": map[string]any{"summary": "This document.", "operationId": "getOpenAPI",
		"responses": map[string]any{"200": map[string]any{"description": "OK"}}}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Nigehban", "version": "1",
			"description": "Match media and hashes against banks of known child sexual abuse material; curate banks; audit."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "nig_… key from `nigehban apikey create`"}},
			"schemas": schemas,
		},
	}
}

func ref(name string) map[string]string {
	return map[string]string{"$ref": "#/components/schemas/" + name}
}

var errorContent = map[string]any{"application/json": map[string]any{"schema": ref("Error")}}

// opSchemas documents the bodies of the main operations.
var opSchemas = map[string]struct {
	request  map[string]any
	response string
	errors   map[string]string
}{
	"POST /v1/match": {
		request: map[string]any{
			"application/json":    map[string]any{"schema": ref("MatchRequest")},
			"multipart/form-data": map[string]any{"schema": ref("Upload")},
		},
		response: "MatchResponse",
		errors: map[string]string{
			"413": "Body or upload over the size limit",
			"422": "Upload is not decodable media (corrupt or unsupported)",
			"503": "Bank indexes still loading",
		},
	},
	"POST /v1/hash": {
		request:  map[string]any{"multipart/form-data": map[string]any{"schema": ref("Upload")}},
		response: "Hashes",
		errors:   map[string]string{"413": "Upload over the size limit", "422": "Upload is not decodable media"},
	},
	"POST /v1/banks/{name}/import": {
		response: "ImportResult",
		errors: map[string]string{"413": "List over the size limit", "404": "No such bank",
			"422": "Bad lines (code bad_lines; atomic: nothing imported) or a list malformed past reading (code bad_list); result.bad_lines lists them (line and message, at most 100), result.bad counts them all"},
	},
	"POST /v1/banks/{name}/exclusions": {
		request:  map[string]any{"application/json": map[string]any{"schema": ref("ExclusionRequest")}},
		response: "ExclusionResult",
		errors:   map[string]string{"404": "No such bank"},
	},
	"GET /v1/banks/{name}/exclusions": {
		response: "ExclusionList",
		errors:   map[string]string{"404": "No such bank"},
	},
	"DELETE /v1/banks/{name}/exclusions": {
		response: "Removed",
		errors:   map[string]string{"404": "No such bank, or the value is not excluded"},
	},
	"PUT /v1/banks/{name}/webhook": {
		request:  map[string]any{"application/json": map[string]any{"schema": ref("WebhookRequest")}},
		response: "Webhook",
		errors:   map[string]string{"404": "No such bank"},
	},
}

var (
	str     = map[string]any{"type": "string"}
	integer = map[string]any{"type": "integer"}
	number  = map[string]any{"type": "number"}
	strList = map[string]any{"type": "array", "items": str}
)

func object(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if required != nil {
		o["required"] = required
	}
	return o
}

var signalType = map[string]any{"type": "string", "enum": []string{"md5", "sha1", "sha256", "pdq", "vpdq"}}

var schemas = map[string]any{
	"Error": object([]string{"error"}, map[string]any{"error": object([]string{"code", "message"}, map[string]any{
		"code": str, "message": str})}),
	"QuerySignal": object([]string{"type", "value"}, map[string]any{
		"type": signalType, "value": map[string]any{"type": "string", "description": "hex digest, 64-hex PDQ hash, or compact vPDQ"},
		"quality": map[string]any{"type": "integer", "description": "PDQ quality if known; below 50 the hash is not matched"}}),
	"MatchRequest": object([]string{"signals"}, map[string]any{
		"signals": map[string]any{"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("QuerySignal")}}),
	"Upload": object([]string{"file"}, map[string]any{"file": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}),
	"Match": object([]string{"query", "bank", "signal_id", "type", "value", "distance", "action"}, map[string]any{
		"query": map[string]any{"type": "integer", "description": "index of the matched query signal"},
		"bank":  str, "signal_id": integer, "type": signalType, "value": map[string]any{"type": "string", "description": "the bank's hash"},
		"distance": map[string]any{"type": "integer", "description": "PDQ Hamming distance; 0 for exact types"},
		"category": str, "action": str, "query_match_percent": number, "target_match_percent": number}),
	"MatchResponse": object([]string{"matches", "signals"}, map[string]any{
		"matches":   map[string]any{"type": "array", "items": ref("Match")},
		"signals":   map[string]any{"type": "array", "items": ref("QuerySignal"), "description": "what was matched (an upload's hashes)"},
		"hashes":    ref("Hashes"),
		"skipped":   strList,
		"event_ids": map[string]any{"type": "array", "items": str, "description": "webhook events queued durably before this answer"}}),
	"Hashes": map[string]any{"type": "object", "description": "md5, sha1, sha256, pdq, quality, vpdq of the media (internal/fingerprint Record)"},
	"ImportResult": object([]string{"read", "added", "unchanged", "bad", "committed"}, map[string]any{
		"read": integer, "added": integer, "unchanged": integer, "committed": integer,
		"bad": map[string]any{"type": "integer", "description": "bad lines, all counted"},
		"bad_lines": map[string]any{"type": "array", "description": "the first bad lines, at most 100",
			"items": object([]string{"line", "error"}, map[string]any{"line": integer, "error": str})}}),
	"WebhookRequest": object([]string{"url"}, map[string]any{
		"url":        map[string]any{"type": "string", "description": "absolute http(s) URL; empty removes the webhook"},
		"secret":     map[string]any{"type": "string", "minLength": 16, "description": "HMAC-SHA256 key of X-Nigehban-Signature"},
		"categories": strList, "types": map[string]any{"type": "array", "items": signalType}}),
	"ExclusionRequest": object([]string{"type", "value", "reason"}, map[string]any{
		"type": signalType, "value": str, "reason": map[string]any{"type": "string", "description": "why the value must not enter the bank"}}),
	"Exclusion": object([]string{"bank", "type", "value", "reason", "created_at", "created_by"}, map[string]any{
		"bank": str, "type": signalType, "value": str, "reason": str,
		"created_at": map[string]any{"type": "string", "format": "date-time"}, "created_by": str}),
	"ExclusionResult": object([]string{"exclusion", "added"}, map[string]any{
		"exclusion": ref("Exclusion"), "added": map[string]any{"type": "boolean", "description": "false: the value was already excluded (201 when added)"}}),
	"ExclusionList": object([]string{"exclusions"}, map[string]any{"exclusions": map[string]any{"type": "array", "items": ref("Exclusion")}}),
	"Removed":       object([]string{"removed"}, map[string]any{"removed": map[string]any{"type": "boolean"}}),
	"Webhook":       object([]string{"bank", "url"}, map[string]any{"bank": str, "url": str, "categories": strList, "types": strList}),
}
