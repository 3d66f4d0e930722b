package blackbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/preflight"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// liveWant is what check --live must observe on the default sandbox; each variant changes the
// rows it is about (tallyfy/sandbox/variants.go).
var liveWant = map[string]string{
	"archive_archived":      "refused: 404",
	"restore_live":          "refused: 422",
	"activate_live":         "accepted: 200",
	"task_delete_live":      "no: the live task was deleted",
	"task_delete_archived":  "yes: 204",
	"task_restore_route":    "yes: 200",
	"archived_task_get":     "404",
	"archived_run_get":      "answered with the item: 200",
	"archived_template_get": "404",
	"timestamps":            "whole seconds",
}

var liveWantUnder = map[sandbox.Variant]map[string]string{
	sandbox.VariantMillisecondStamps:     {"timestamps": "below a second"},
	sandbox.VariantArchiveArchived200:    {"archive_archived": "accepted: 20"}, // a task archive answers 204
	sandbox.VariantRestoreLive200:        {"restore_live": "accepted: 200"},
	sandbox.VariantActivateLiveError:     {"activate_live": "refused: 422"},
	sandbox.VariantTaskDeleteArchived404: {"task_delete_archived": "no: 404"},
	sandbox.VariantArchivedTaskGet200:    {"archived_task_get": "answered with the item: 200"},
	sandbox.VariantArchivedRunGet404:     {"archived_run_get": "404"},
}

// TestCheckLiveUnderEverySandboxVariant runs check --live through the built binary against
// `tallyfy-mcp sandbox --variant V` for every registered variant (a matrix, not a sample): it
// names the variant it met, observes every row as that variant answers, and leaves no task.
func TestCheckLiveUnderEverySandboxVariant(t *testing.T) {
	t.Parallel()
	variants := []string{"default"}
	for _, in := range sandbox.AllVariants() {
		variants = append(variants, string(in.Variant))
	}
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			base, _ := startSandboxBinary(t, "--variant", v)
			r := runCheck(t, sandboxEnv(base, sandbox.AdminToken), "--live", "--yes", "--json")
			rep := liveOf(t, r)
			if rep.Met != "the tallyfy-mcp sandbox, variants: "+v {
				t.Errorf("met %q, want variant %s", rep.Met, v)
			}
			if !rep.OK || len(rep.Left) != 0 || !strings.Contains(rep.Cleanup, "permanently deleted") || r.code != 0 {
				t.Errorf("exit %d, live ok %v, cleanup %q, problem %q", r.code, rep.OK, rep.Cleanup, rep.Problem)
			}
			want := map[string]string{}
			for k, a := range liveWant {
				want[k] = a
			}
			for k, a := range liveWantUnder[sandbox.Variant(v)] {
				want[k] = a
			}
			seen := map[string]bool{}
			for _, o := range rep.Observed {
				seen[o.Key] = true
				if strings.HasPrefix(o.Answer, "not observed: an earlier step failed") {
					t.Errorf("%s: not observed", o.Key)
				}
				if w, ok := want[o.Key]; ok && !strings.Contains(o.Answer, w) {
					t.Errorf("%s = %q, want %q", o.Key, o.Answer, w)
				}
			}
			if len(seen) != 11 {
				t.Errorf("%d rows: %+v", len(seen), rep.Observed)
			}
			// Nothing titled as check --live's task is left, archived or not.
			req, _ := http.NewRequest(http.MethodGet, base+"/organizations/"+sandbox.OrgID+"/tasks?archived=true&per_page=100", nil)
			testkit.SetHeaders(req, map[string]string{"Authorization": "Bearer " + sandbox.AdminToken, "X-Tallyfy-Client": "APIClient", "Accept": "application/json"})
			code, _, body := testkit.Do(t, req)
			var list struct{ Data []struct{ Title string } }
			if code != 200 || json.Unmarshal([]byte(body), &list) != nil {
				t.Fatalf("listing tasks: %d %s", code, body)
			}
			for _, it := range list.Data {
				if it.Title == preflight.LiveTaskTitle {
					t.Errorf("check --live left its task under %s", v)
				}
			}
		})
	}
}
