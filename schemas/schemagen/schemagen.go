// Package schemagen turns the types of package schemas into the flat JSON Schemas checked in
// as schemas/*.json. It runs at build time (make schemas, go generate) and in tests, never in
// the server: the reflection and its dependencies stay out of the binary.
package schemagen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
)

// For returns the flat JSON Schema of v's type: inlined (no $ref/$defs), no $schema or $id.
// Argument schemas keep a description on every property and additionalProperties false on
// every object. Result schemas (the types named …Result) drop both: every host puts tools/list
// in the model's context, and the descriptions of result fields would triple its size.
func For(v any) json.RawMessage {
	r := &jsonschema.Reflector{DoNotReference: true, Anonymous: true}
	s := r.ReflectFromType(reflect.TypeOf(v))
	s.Version = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schemas: %T: %v", v, err)) // a bug in a type above, caught by tests
	}
	if strings.HasSuffix(reflect.TypeOf(v).Name(), "Result") {
		var tree any
		_ = json.Unmarshal(b, &tree)
		b, _ = json.Marshal(compact(tree))
	}
	return b
}

// compact drops descriptions and additionalProperties from a schema tree. A property that is
// itself named "description" is kept: only schema keywords are dropped. A oneOf of bare types
// (a nullable field: `oneof_type=number;null`, "null when Tallyfy did not say") becomes the
// shorter, equivalent type list, {"type": ["number", "null"]}.
func compact(node any) any {
	switch n := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(n))
		if types, ok := bareTypes(n["oneOf"]); ok {
			out["type"] = types
		}
		for k, v := range n {
			switch k {
			case "description", "additionalProperties":
				continue
			case "oneOf":
				if _, ok := out["type"]; ok {
					continue
				}
				out[k] = compact(v)
			case "properties":
				props := map[string]any{}
				for name, p := range v.(map[string]any) {
					props[name] = compact(p)
				}
				out[k] = props
			default:
				out[k] = compact(v)
			}
		}
		return out
	case []any:
		for i := range n {
			n[i] = compact(n[i])
		}
	}
	return node
}

// bareTypes returns the types of a oneOf whose every branch is only {"type": T}.
func bareTypes(v any) ([]any, bool) {
	branches, ok := v.([]any)
	if !ok || len(branches) == 0 {
		return nil, false
	}
	types := make([]any, 0, len(branches))
	for _, b := range branches {
		m, ok := b.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, false
		}
		t, ok := m["type"].(string)
		if !ok {
			return nil, false
		}
		types = append(types, t)
	}
	return types, true
}

// Pretty is the checked-in form of a schema: indented, with a trailing newline.
func Pretty(raw json.RawMessage) []byte {
	var v any
	_ = json.Unmarshal(raw, &v)
	b, _ := json.MarshalIndent(v, "", "  ")
	return append(b, '\n')
}

// WriteAll writes every schema in Named to dir/<name>.json.
func WriteAll(dir string) error {
	for _, n := range schemas.Names() {
		if err := os.WriteFile(filepath.Join(dir, n+".json"), Pretty(For(schemas.Named[n])), 0o644); err != nil {
			return err
		}
	}
	return nil
}
