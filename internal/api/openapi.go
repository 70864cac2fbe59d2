package api

import (
	"net/url"
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
				"400": map[string]any{"description": "Bad request: {\"error\":{\"code\",\"message\"}}"},
			},
		}
		if rt.role != "" {
			op["security"] = []map[string][]string{{"apiKey": {}}}
			op["x-role"] = string(rt.role)
			resp := op["responses"].(map[string]any)
			resp["401"] = map[string]any{"description": "Missing, invalid or revoked API key"}
			resp["403"] = map[string]any{"description": "The key's role may not do this (needs " + string(rt.role) + ")"}
			resp["429"] = map[string]any{"description": "Rate limited; see Retry-After"}
		}
		if rt.body != "" {
			op["requestBody"] = map[string]any{"content": map[string]any{rt.body: map[string]any{}}}
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
	paths["/metrics"] = map[string]any{"get": map[string]any{"summary": "Prometheus metrics.", "operationId": "getMetrics",
		"responses": map[string]any{"200": map[string]any{"description": "OK"}}}}
	paths["/openapi.json"] = map[string]any{"get": map[string]any{"summary": "This document.", "operationId": "getOpenAPI",
		"responses": map[string]any{"200": map[string]any{"description": "OK"}}}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Nigehban", "version": "1",
			"description": "Match media and hashes against banks of known child sexual abuse material; curate banks; audit."},
		"paths": paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"apiKey": map[string]any{"type": "http", "scheme": "bearer", "description": "nig_… key from `nigehban apikey create`"}}},
	}
}

// validWebhookURL accepts absolute http(s) URLs.
func validWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(400, "invalid", "webhook url must be an absolute http(s) URL")
	}
	return nil
}
