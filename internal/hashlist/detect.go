package hashlist

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
)

// DetectSize is how much of the start of a file Detect wants to see.
const DetectSize = 4096

// Detect guesses the format of a list from its first bytes (DetectSize is
// plenty) and, when the content does not settle it, the file name's
// extension. It returns "" when neither does. Content wins over the name: a
// ".csv" file holding "hash,quality,file" is te, not csv.
//
// The rules: "[" or a "{" document with an OData envelope or a "value" array
// is vics; other lines that are JSON objects are jsonl; a first data line of
// "HASH,…" or "hash=…" is te; a header with a value column is csv, one with
// hash, signal_str, signal or indicator is te; a bare hash (optionally
// followed by white space and a file name) is plain. `nigehban hash` output
// is nigehban: JSON lines starting {"path": (or objects with "path" and no
// "value"), or a CSV header with path and sha256 or md5 columns and no value
// column.
func Detect(head []byte, name string) Format {
	if f := detectContent(head); f != "" {
		return f
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV
	case ".jsonl", ".ndjson":
		return JSONL
	case ".json":
		return VICS
	case ".te":
		return TE
	case ".txt", ".lst", ".hash", ".hashes", ".md5", ".sha1", ".sha256", ".pdq":
		return Plain
	}
	return ""
}

func detectContent(head []byte) Format {
	h := bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	if len(h) == 0 {
		return ""
	}
	switch h[0] {
	case '[':
		return VICS
	case '{':
		if bytes.Contains(h, []byte(`"odata.metadata"`)) || bytes.Contains(h, []byte(`"@odata.context"`)) {
			return VICS
		}
		first, _, _ := bytes.Cut(h, []byte{'\n'})
		if bytes.HasPrefix(first, []byte(`{"path":`)) {
			return Nigehban // as `nigehban hash` writes it, even when a long vPDQ cuts the line short
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimSpace(first), &m) != nil {
			return VICS // a pretty-printed or long single document
		}
		hasPath, hasValue := false, false
		for k, v := range m {
			if strings.EqualFold(k, "value") {
				if len(v) > 0 && v[0] == '[' {
					return VICS
				}
				hasValue = true
			}
			hasPath = hasPath || k == "path"
		}
		if hasPath && !hasValue {
			return Nigehban
		}
		return JSONL
	}
	var line []byte
	for rest := h; len(rest) > 0; {
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if !skippable(line) {
			break
		}
		line = nil
	}
	if line == nil {
		return ""
	}
	if bytes.HasPrefix(line, []byte("hash=")) {
		return TE
	}
	fields := bytes.Split(line, []byte{','})
	first := bytes.TrimSpace(fields[0])
	if isHash(first) {
		if len(fields) > 1 {
			return TE
		}
		return Plain
	}
	if tok, _, _ := bytes.Cut(first, []byte{' '}); isHash(tok) {
		return Plain // md5sum style: "HASH  name"
	}
	if tok, _, _ := bytes.Cut(first, []byte{'\t'}); isHash(tok) {
		return Plain
	}
	cols := map[string]bool{}
	for _, f := range fields {
		cols[strings.ToLower(strings.Trim(string(bytes.TrimSpace(f)), `"`))] = true
	}
	if cols["path"] && (cols["sha256"] || cols["md5"]) && !cols["value"] {
		return Nigehban
	}
	isTE := false
	for _, f := range fields {
		col := strings.ToLower(strings.Trim(string(bytes.TrimSpace(f)), `"`))
		if col == "value" {
			return CSV
		}
		if fi, ok := teAliases[col]; ok && fi == fValue {
			isTE = true
		}
	}
	if isTE {
		return TE
	}
	return ""
}

// isHash reports whether b is hex of an md5, sha1 or sha256/pdq length.
func isHash(b []byte) bool {
	switch len(b) {
	case 32, 40, 64:
		return isHex(b)
	}
	return false
}
