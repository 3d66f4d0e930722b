package schemas_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
)

// TestCheck: valid arguments pass in every form a call carries them (decoded, raw, none); a
// bad one is named with what is wrong, an upper-case ID with the lower-case one to pass.
func TestCheck(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("a", 32)
	for _, ok := range []any{map[string]any{"run_id": id}, json.RawMessage(`{"run_id":"` + id + `"}`)} {
		if v := schemas.Check(schemas.RunIDArgs{}, ok); v != nil {
			t.Errorf("%v: %+v", ok, v)
		}
	}
	if v := schemas.Check(schemas.ListArgs{}, nil); v != nil {
		t.Errorf("no arguments for a tool without required ones: %+v", v)
	}
	for _, none := range []any{nil, json.RawMessage(" null ")} {
		if v := schemas.Check(schemas.RunIDArgs{}, none); len(v) != 1 || v[0].Where != "arguments" || !strings.Contains(v[0].Why, "run_id") {
			t.Errorf("%v: %+v", none, v)
		}
	}
	v := schemas.Check(schemas.RunIDArgs{}, map[string]any{"run_id": strings.ToUpper(id), "force": true})
	if len(v) != 2 {
		t.Fatalf("%+v", v)
	}
	byWhere := map[string]string{v[0].Where: v[0].Why, v[1].Where: v[1].Why}
	if why := byWhere["run_id"]; !strings.Contains(why, "32 hex characters in lower case") || !strings.Contains(why, `pass "`+id+`"`) {
		t.Errorf("run_id: %q", why)
	}
	if why := byWhere["arguments"]; !strings.Contains(why, "force") {
		t.Errorf("the unknown argument: %+v", v)
	}
	if v := schemas.Check(schemas.RunIDArgs{}, []any{1}); len(v) != 1 || v[0].Where != "arguments" {
		t.Errorf("an array: %+v", v)
	}
	if got := schemas.Properties(schemas.ListRunsArgs{}); !reflect.DeepEqual(got, []string{"archived", "page", "per_page", "query", "status", "template_id", "updated_after", "updated_before"}) {
		t.Errorf("properties %v", got)
	}
}
