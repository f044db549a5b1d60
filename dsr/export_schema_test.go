package dsr

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// validate checks doc against the subset of JSON Schema (2020-12) that
// data.schema.json uses: type (one or a list), const, enum, properties,
// required, additionalProperties: false, items, oneOf, $ref to #/$defs/…,
// pattern, minimum. Any other keyword in the schema is an error, so the
// schema cannot silently use something this validator ignores.
func validate(root, schema map[string]any, doc any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	known := []string{"$schema", "$id", "title", "description", "type", "const", "enum", "properties", "required",
		"additionalProperties", "items", "oneOf", "$ref", "$defs", "pattern", "minimum", "format"}
	for k := range schema {
		if !slices.Contains(known, k) {
			fail("schema keyword %q not supported by the test validator", k)
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		def, found := root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok || !found {
			fail("unresolved $ref %q", ref)
			return errs
		}
		errs = append(errs, validate(root, def, doc, at)...)
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(doc)) && !(jsonType(doc) == "integer" && slices.Contains(types, "number")) {
			fail("type %s, want %v", jsonType(doc), types)
			return errs
		}
	}
	if c, ok := schema["const"]; ok && fmt.Sprint(c) != fmt.Sprint(doc) {
		fail("%v, want const %v", doc, c)
	}
	if e, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return x == doc }) {
		fail("%v not in enum %v", doc, e)
	}
	if p, ok := schema["pattern"].(string); ok {
		if s, isStr := doc.(string); isStr && !regexp.MustCompile(p).MatchString(s) {
			fail("%q does not match %s", s, p)
		}
	}
	if m, ok := schema["minimum"].(float64); ok {
		if n, isNum := doc.(float64); isNum && n < m {
			fail("%v below minimum %v", n, m)
		}
	}
	if one, ok := schema["oneOf"].([]any); ok {
		matched := 0
		for _, s := range one {
			if len(validate(root, s.(map[string]any), doc, at)) == 0 {
				matched++
			}
		}
		if matched != 1 {
			fail("matches %d of oneOf, want exactly 1", matched)
		}
	}
	if obj, ok := doc.(map[string]any); ok {
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := obj[r]; !ok {
				fail("missing required %q", r)
			}
		}
		for k, v := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, set := schema["additionalProperties"].(bool); set && !ap {
					fail("property %q not in the schema", k)
				}
				continue
			}
			errs = append(errs, validate(root, ps, v, at+"."+k)...)
		}
	}
	if arr, ok := doc.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, v := range arr {
				errs = append(errs, validate(root, items, v, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	}
	return errs
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == float64(int64(v)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func validateData(t *testing.T, data []byte) {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal(DataSchema(), &schema); err != nil {
		t.Fatalf("data.schema.json: %v", err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("data.json is not JSON: %v", err)
	}
	for _, e := range validate(schema, schema, doc, "$") {
		t.Errorf("data.json does not validate: %s", e)
	}
}

// TestSchemaValidatorRejects proves the validator can fail: each mutation of
// a valid document must be caught.
func TestSchemaValidatorRejects(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(DataSchema(), &schema); err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any {
		var d map[string]any
		json.Unmarshal([]byte(`{"schema_version":"1.0","generated_at":"2026-03-10T12:00:00Z","request_id":"DSR-2026-000001",
		"subject":{"user_id":"u","email":"e","pseudo":"p","account_created_at":null,"account_closed_at":null,"restricted":false,
		"anonymized_at":null,"record_created_at":"2026-03-10T12:00:00Z","record_updated_at":"2026-03-10T12:00:00Z"},
		"tickets":[{"ticket_id":"T","request_number":"R","subject":"s","description":"d","transaction_ref":null,"status":"open",
		"dispute_status":"none","created_at":"2026-03-10T12:00:00Z","closed_at":null,"restricted":false,
		"attachments":[{"attachment_id":"A","message_id":null,"filename":"f","content_type":"c","size":1,
		"sha256":"0000000000000000000000000000000000000000000000000000000000000000","uploaded_at":"2026-03-10T12:00:00Z","path":"attachments/A/f"}],
		"messages":[{"message_id":"M","author":"agent","agent":"Agent 1","body":"b","sent_at":"2026-03-10T12:00:00Z"}]}],
		"account_events":[],"subject_stats":null,"objections":[],"requests":[],"legal_holds":[],
		"counts":{"tickets":1,"messages":1,"attachments":1,"attachment_bytes":1,"account_events":0,"subject_stats":0,"objections":0,"requests":0,"legal_holds":0}}`), &d)
		return d
	}
	if errs := validate(schema, schema, valid(), "$"); len(errs) > 0 {
		t.Fatalf("valid document rejected: %v", errs)
	}
	ticket := func(d map[string]any) map[string]any { return d["tickets"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
	}{
		{"wrong version", func(d map[string]any) { d["schema_version"] = "2.0" }},
		{"missing subject", func(d map[string]any) { delete(d, "subject") }},
		{"extra field", func(d map[string]any) { d["agent_ids"] = []any{"ag-7"} }},
		{"bad time", func(d map[string]any) { d["generated_at"] = "yesterday" }},
		{"bad status", func(d map[string]any) { ticket(d)["status"] = "pending" }},
		{"agent id leaks", func(d map[string]any) {
			ticket(d)["messages"].([]any)[0].(map[string]any)["agent"] = "ag-7"
		}},
		{"unsafe path", func(d map[string]any) {
			ticket(d)["attachments"].([]any)[0].(map[string]any)["path"] = "attachments/../../etc/passwd"
		}},
		{"negative count", func(d map[string]any) { d["counts"].(map[string]any)["messages"] = -1.0 }},
		{"stats not object", func(d map[string]any) { d["subject_stats"] = "fast" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := valid()
			tc.mutate(d)
			if errs := validate(schema, schema, d, "$"); len(errs) == 0 {
				t.Error("mutated document validates")
			}
		})
	}
}
