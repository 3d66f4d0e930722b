// Package schemas holds the argument and result types of every tool and turns them into the
// flat JSON Schemas that MCP hosts read. It knows nothing of HTTP.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

//go:generate go run ./gen

// checkedIn holds schemas/*.json, written by schemagen from the types: the server serves these
// instead of reflecting on the types at every start. A test keeps them equal to the types.
//
//go:embed *.json
var checkedIn embed.FS

// Named lists every type whose schema is checked in, by file name (without .json).
var Named = map[string]any{
	"task_id_args":            TaskIDArgs{},
	"run_id_args":             RunIDArgs{},
	"template_id_args":        TemplateIDArgs{},
	"delete_task_args":        DeleteTaskArgs{},
	"delete_run_args":         DeleteRunArgs{},
	"delete_template_args":    DeleteTemplateArgs{},
	"list_args":               ListArgs{},
	"list_runs_args":          ListRunsArgs{},
	"get_task_result":         GetTaskResult{},
	"get_run_result":          GetRunResult{},
	"get_template_result":     GetTemplateResult{},
	"list_tasks_result":       ListTasksResult{},
	"list_runs_result":        ListRunsResult{},
	"list_templates_result":   ListTemplatesResult{},
	"lifecycle_result":        LifecycleResult{},
	"archive_template_result": ArchiveTemplateResult{},
	"delete_result":           DeleteResult{},
	"bulk_args":               BulkArgs{},
	"bulk_result":             BulkResult{},
	"app_review_args":         AppReviewArgs{},
	"app_decide_args":         AppDecideArgs{},
}

// Names returns the keys of Named, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(Named))
}

// JSON returns the schema of v's type for serving: its checked-in file, compacted. The server
// never reflects on types at run time (that cost milliseconds of cold start and linked the
// generator); schemagen writes the files and a test keeps them equal to the types.
func JSON(v any) json.RawMessage {
	t := reflect.TypeOf(v)
	for name, sample := range Named {
		if reflect.TypeOf(sample) != t {
			continue
		}
		raw, err := checkedIn.ReadFile(name + ".json")
		if err != nil {
			panic(fmt.Sprintf("schemas: %s.json is not checked in: run make schemas", name))
		}
		var out bytes.Buffer
		if err := json.Compact(&out, raw); err != nil {
			panic(fmt.Sprintf("schemas: %s.json: %v (run make schemas)", name, err))
		}
		return out.Bytes()
	}
	panic(fmt.Sprintf("schemas: %T is not in schemas.Named: add it there and run make schemas", v))
}
