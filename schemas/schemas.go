// Package schemas holds the argument and result types of every tool and turns them into the
// flat JSON Schemas that MCP hosts read. It knows nothing of HTTP.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"github.com/invopop/jsonschema"
)

//go:generate go run ./gen

// checkedIn holds schemas/*.json: the server serves these instead of reflecting on the types
// at every start (reflection cost milliseconds of cold start). A test keeps them equal to For.
//
//go:embed *.json
var checkedIn embed.FS

// Named lists every type whose schema is checked in, by file name (without .json).
var Named = map[string]any{
	"task_id_args":          TaskIDArgs{},
	"run_id_args":           RunIDArgs{},
	"template_id_args":      TemplateIDArgs{},
	"delete_task_args":      DeleteTaskArgs{},
	"delete_run_args":       DeleteRunArgs{},
	"delete_template_args":  DeleteTemplateArgs{},
	"list_args":             ListArgs{},
	"get_task_result":       GetTaskResult{},
	"get_run_result":        GetRunResult{},
	"get_template_result":   GetTemplateResult{},
	"list_tasks_result":     ListTasksResult{},
	"list_runs_result":      ListRunsResult{},
	"list_templates_result": ListTemplatesResult{},
	"lifecycle_result":      LifecycleResult{},
	"delete_result":         DeleteResult{},
}

// For returns the flat JSON Schema of v's type: inlined (no $ref/$defs), no $schema or $id.
// Argument schemas keep a description on every property and additionalProperties false on
// every object. Result schemas (types marked as results) drop both: every host puts tools/list
// in the model's context, and the descriptions of result fields would triple its size.
func For(v any) json.RawMessage {
	r := &jsonschema.Reflector{DoNotReference: true, Anonymous: true}
	s := r.ReflectFromType(reflect.TypeOf(v))
	s.Version = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schemas: %T: %v", v, err)) // a bug in a type above, caught by tests
	}
	if _, ok := v.(result); ok {
		var tree any
		_ = json.Unmarshal(b, &tree)
		b, _ = json.Marshal(compact(tree))
	}
	return b
}

// result marks the types that are tool results (output schemas).
type result interface{ isResult() }

// compact drops descriptions and additionalProperties from a schema tree. A property that is
// itself named "description" is kept: only schema keywords are dropped.
func compact(node any) any {
	switch n := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, v := range n {
			switch k {
			case "description", "additionalProperties":
				continue
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

// Names returns the keys of Named, sorted.
func Names() []string {
	names := make([]string, 0, len(Named))
	for n := range Named {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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
	for _, n := range Names() {
		if err := os.WriteFile(filepath.Join(dir, n+".json"), Pretty(For(Named[n])), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// JSON returns the schema of v's type for serving: the checked-in file when v's type is in
// Named, compacted; otherwise the generated one.
func JSON(v any) json.RawMessage {
	t := reflect.TypeOf(v)
	for name, sample := range Named {
		if reflect.TypeOf(sample) != t {
			continue
		}
		raw, err := checkedIn.ReadFile(name + ".json")
		if err != nil {
			break
		}
		var out bytes.Buffer
		if json.Compact(&out, raw) != nil {
			break
		}
		return out.Bytes()
	}
	return For(v)
}
