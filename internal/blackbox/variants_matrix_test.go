package blackbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestVariantMatrix runs the lifecycle, delete, bulk and list tools of the built binary
// against a sandbox in each behaviour the Tallyfy sources allow: the defaults, and every
// variant in sandbox.AllVariants() (a matrix, not a sample; issue 18 point 10). After every
// call it reads the sandbox's own state and checks that the result is true: the state it claims
// is the state the sandbox holds, `changed` is true exactly when the sandbox's item changed,
// a refusal changed nothing and any state it reads back is the real one, and a delete claims
// "deleted" exactly when the item is gone.
func TestVariantMatrix(t *testing.T) {
	t.Parallel()
	variants := []sandbox.Variant{""} // the defaults
	for _, in := range sandbox.AllVariants() {
		variants = append(variants, in.Variant)
	}
	for _, v := range variants {
		name := string(v)
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opts []sandbox.Option
			if v != "" {
				opts = append(opts, sandbox.WithVariants(v))
			}
			sb := sandbox.New(opts...)
			url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p := harness.Start(t, harness.Config{Args: []string{"--confirm", "off", "--max-deletes-per-hour", "-1"}, Env: sandboxEnv(url, sandbox.AdminToken)})
			m := &matrix{t: t, sb: sb, p: p, variant: v}
			m.run()
			if n := p.RPCErrors(); n != 0 {
				t.Errorf("%d calls answered with a JSON-RPC error", n)
			}
		})
	}
}

type matrix struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	p       *harness.Proc
	variant sandbox.Variant
}

// seeded is one seeded item and the tools for its kind.
type seeded struct {
	kind, idArg, id               string
	archive, restore, get, delete string
}

func task(id string) seeded {
	return seeded{"task", "task_id", id, "archive_task", "restore_task", "get_task", "delete_task"}
}
func run(id string) seeded {
	return seeded{"run", "run_id", id, "archive_run", "activate_run", "get_run", "delete_run"}
}
func template(id string) seeded {
	return seeded{"template", "template_id", id, "archive_template", "restore_template", "get_template", "delete_template"}
}

func (m *matrix) run() {
	ids := sandbox.IDs
	live := []seeded{task(ids.LiveTask), run(ids.ActiveRun), template(ids.LiveTemplate)}

	// Archive live items: each must change.
	archivedAt := time.Now()
	for _, it := range live {
		m.lifecycle(it, it.archive, wantChange)
	}
	// A process task is refused without a change; restoring live items changes nothing.
	m.lifecycle(task(ids.ProcessTask), "archive_task", wantRefusal)
	m.lifecycle(task(ids.PerAssigneeTask), "restore_task", wantNoop)
	m.lifecycle(run(ids.CompleteRun), "activate_run", wantNoop)
	m.lifecycle(template(ids.EmbeddedTemplate), "archive_template", wantChange) // deleted_references non-empty

	// archive_run decides a no-op from a stamp clearly older than the call (more than a second,
	// and stamps may be whole seconds): wait that out before archiving again. The wait also
	// outlasts the listing lag of sandbox.VariantListingLag.
	time.Sleep(time.Until(archivedAt.Add(2100 * time.Millisecond)))
	for _, it := range live {
		m.lifecycle(it, it.archive, wantNoop)
		m.get(it)
		m.lifecycle(it, it.restore, wantChange)
		m.lifecycle(it, it.restore, wantNoop)
		m.get(it)
	}

	// Permanent deletes of archived items, and of a live one (refused: archive first).
	m.delete(run(ids.ActiveRun), false)
	for _, it := range []seeded{task(ids.ArchivedTask), run(ids.ArchivedRun), template(ids.ArchivedTemplate)} {
		m.delete(it, m.variant != sandbox.VariantTaskDeleteArchived404 || it.kind != "task")
	}

	// Bulk: archive two processes and two one-off tasks, restore them, then delete one of each
	// after archiving it again.
	m.bulk("bulk_archive", "run", ids.ActiveRun, ids.CompleteRun)
	m.bulk("bulk_archive", "task", ids.LiveTask, ids.PerAssigneeTask)
	if m.variant == sandbox.VariantListingLag {
		time.Sleep(sandbox.ListingLag + 100*time.Millisecond)
	}
	m.bulk("bulk_restore", "run", ids.ActiveRun, ids.CompleteRun)
	m.bulk("bulk_restore", "task", ids.LiveTask, ids.PerAssigneeTask)
	m.lifecycle(run(ids.CompleteRun), "archive_run", wantChange)
	m.lifecycle(task(ids.PerAssigneeTask), "archive_task", wantChange)
	if m.variant == sandbox.VariantListingLag {
		time.Sleep(sandbox.ListingLag + 100*time.Millisecond)
	}
	m.bulk("bulk_delete", "run", ids.CompleteRun)
	m.bulk("bulk_delete", "task", ids.PerAssigneeTask)

	// Lists: every listed item's archived state is the sandbox's. A listing is what Tallyfy
	// lists, so under the listing lag it is read once the lag has passed.
	if m.variant == sandbox.VariantListingLag {
		time.Sleep(sandbox.ListingLag + 100*time.Millisecond)
	}
	m.list("list_tasks", "task", "tasks")
	m.list("list_runs", "run", "runs")
	m.list("list_templates", "template", "templates")
}

// expectation is what a step must come to under every variant, besides being true.
type expectation int

const (
	wantChange  expectation = iota + 1 // ok, changed
	wantNoop                           // ok, nothing changed
	wantRefusal                        // an error result, nothing changed
)

// state is what the sandbox holds of an item: live, archived or deleted.
func (m *matrix) state(kind, id string) (sandbox.Record, string) {
	rec, ok := m.sb.Lookup(kind, id)
	switch {
	case !ok:
		return rec, "deleted"
	case rec.Archived:
		return rec, "archived"
	}
	return rec, "live"
}

func (m *matrix) call(tool string, args map[string]any) *mcp.CallToolResult {
	m.t.Helper()
	res, err := m.p.Call(tool, args)
	if err != nil {
		m.t.Fatalf("%s %v: JSON-RPC error %v", tool, args, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// lifecycle calls an archive or restore tool and checks its result against the sandbox.
func (m *matrix) lifecycle(it seeded, tool string, want expectation) {
	m.t.Helper()
	before, was := m.state(it.kind, it.id)
	res := m.call(tool, map[string]any{it.idArg: it.id})
	after, now := m.state(it.kind, it.id)
	changed := was != now || before.LastUpdated != after.LastUpdated
	text := resultText(res)
	step := fmt.Sprintf("%s %s (%s → %s)", tool, it.id[:8], was, now)
	if res.IsError {
		if changed {
			m.t.Errorf("%s: an error result, yet the sandbox's item changed: %s", step, text)
		}
		m.checkReadBack(step, text, now)
		if want != wantRefusal {
			m.t.Errorf("%s: want success, got: %s", step, text)
		}
		return
	}
	var out lifecycleOut
	structured(m.t, res, &out)
	if out.Resource.State != now || out.Resource.ID != it.id {
		m.t.Errorf("%s: claims %s is %s, the sandbox holds it %s: %s", step, out.Resource.ID, out.Resource.State, now, text)
	}
	if out.Changed != changed {
		m.t.Errorf("%s: claims changed=%v, the sandbox's item changed=%v: %s", step, out.Changed, changed, text)
	}
	if (want == wantChange) != out.Changed || want == wantRefusal {
		m.t.Errorf("%s: want %v, got changed=%v: %s", step, want, out.Changed, text)
	}
}

// checkReadBack checks the state an error result says it read back, if it says one.
func (m *matrix) checkReadBack(step, text, now string) {
	m.t.Helper()
	for _, lead := range []string{"Read back just now, it is ", "read back just now it is ", " is still there, "} {
		if i := strings.Index(text, lead); i >= 0 {
			said := strings.TrimLeft(text[i+len(lead):], " ")
			said = strings.FieldsFunc(said, func(r rune) bool { return r == ':' || r == '.' || r == ' ' || r == ',' })[0]
			if said != now {
				m.t.Errorf("%s: says it read back %q, the sandbox holds %s: %s", step, said, now, text)
			}
		}
	}
	for _, claim := range []string{"is now archived", "is now live", "was permanently deleted"} {
		if strings.Contains(text, claim) {
			m.t.Errorf("%s: an error result claims %q: %s", step, claim, text)
		}
	}
	if now != "deleted" && strings.Contains(text, "may have been permanently deleted") {
		m.t.Errorf("%s: says it may have been deleted while it exists: %s", step, text)
	}
}

// get checks that the get tool reads the state the sandbox holds.
func (m *matrix) get(it seeded) {
	m.t.Helper()
	res := m.call(it.get, map[string]any{it.idArg: it.id})
	_, now := m.state(it.kind, it.id)
	if res.IsError {
		m.t.Errorf("%s %s: %s", it.get, it.id[:8], resultText(res))
		return
	}
	var out map[string]map[string]any
	structured(m.t, res, &out)
	if a, ok := out[it.kind]["archived"].(bool); !ok || a != (now == "archived") {
		m.t.Errorf("%s %s: archived %v, the sandbox holds it %s", it.get, it.id[:8], out[it.kind]["archived"], now)
	}
}

// delete calls a permanent delete (confirmation off) and checks it against the sandbox.
func (m *matrix) delete(it seeded, wantGone bool) {
	m.t.Helper()
	_, was := m.state(it.kind, it.id)
	res := m.call(it.delete, map[string]any{it.idArg: it.id})
	_, now := m.state(it.kind, it.id)
	text := resultText(res)
	step := fmt.Sprintf("%s %s (%s → %s)", it.delete, it.id[:8], was, now)
	if res.IsError {
		if now != was {
			m.t.Errorf("%s: an error result, yet the sandbox's item changed: %s", step, text)
		}
		m.checkReadBack(step, text, now)
	} else {
		var out deleteOut
		structured(m.t, res, &out)
		if out.Status != "deleted" || now != "deleted" {
			m.t.Errorf("%s: claims %s, the sandbox holds it %s: %s", step, out.Status, now, text)
		}
	}
	if (now == "deleted") != wantGone {
		m.t.Errorf("%s: want gone=%v: %s", step, wantGone, text)
	}
}

// bulk plans and executes a bulk call on ids and checks each item's outcome against the sandbox.
func (m *matrix) bulk(tool, kind string, ids ...string) {
	m.t.Helper()
	type bulkOut struct {
		Status string `json:"status"`
		Items  []struct {
			ID, State, Outcome, Reason string
		} `json:"items"`
		Execute *struct {
			Arguments map[string]any `json:"arguments"`
		} `json:"execute"`
	}
	plan := m.call(tool, map[string]any{"type": kind, "ids": ids})
	if plan.IsError {
		m.t.Errorf("%s plan %s %v: %s", tool, kind, ids, resultText(plan))
		return
	}
	var po bulkOut
	structured(m.t, plan, &po)
	if po.Execute == nil {
		m.t.Errorf("%s plan %s: no execute call: %s", tool, kind, resultText(plan))
		return
	}
	before := map[string]string{}
	stamps := map[string]string{}
	for _, id := range ids {
		rec, s := m.state(kind, id)
		before[id], stamps[id] = s, rec.LastUpdated
	}
	res := m.call(tool, po.Execute.Arguments)
	text := resultText(res)
	if res.IsError {
		m.t.Errorf("%s execute %s: %s", tool, kind, text)
		return
	}
	var out bulkOut
	structured(m.t, res, &out)
	if len(out.Items) != len(ids) {
		m.t.Errorf("%s %s: %d items for %d ids: %s", tool, kind, len(out.Items), len(ids), text)
	}
	for _, it := range out.Items {
		rec, now := m.state(kind, it.ID)
		changed := before[it.ID] != now || stamps[it.ID] != rec.LastUpdated
		step := fmt.Sprintf("%s %s %s (%s → %s)", tool, kind, it.ID[:8], before[it.ID], now)
		switch it.Outcome {
		case "ok":
			if !changed || it.State != now {
				m.t.Errorf("%s: ok, state %q, but the sandbox holds it %s (changed %v)", step, it.State, now, changed)
			}
		case "noop":
			if changed || it.State != now {
				m.t.Errorf("%s: noop, state %q, but the sandbox holds it %s (changed %v)", step, it.State, now, changed)
			}
		case "unknown":
		default: // skipped, failed, not_run: nothing was done to it
			if changed {
				m.t.Errorf("%s: %s (%s), yet the sandbox's item changed", step, it.Outcome, it.Reason)
			}
			if it.State != "" && it.State != now {
				m.t.Errorf("%s: %s with state %q, the sandbox holds it %s", step, it.Outcome, it.State, now)
			}
			m.checkReadBack(step, it.Reason, now)
		}
		if it.Outcome != "ok" && (m.variant != sandbox.VariantTaskDeleteArchived404 || tool != "bulk_delete" || kind != "task") {
			m.t.Errorf("%s: want ok, got %s (%s)", step, it.Outcome, it.Reason)
		}
	}
}

// list reads a kind's listing, archived included, and checks each item's archived state.
func (m *matrix) list(tool, kind, field string) {
	m.t.Helper()
	res := m.call(tool, map[string]any{"archived": "include", "per_page": 100})
	if res.IsError {
		m.t.Errorf("%s: %s", tool, resultText(res))
		return
	}
	var out map[string]json.RawMessage
	structured(m.t, res, &out)
	var items []struct {
		ID       string `json:"id"`
		Archived *bool  `json:"archived"`
	}
	if err := json.Unmarshal(out[field], &items); err != nil || len(items) == 0 {
		m.t.Errorf("%s: items %s (%v)", tool, out[field], err)
		return
	}
	for _, it := range items {
		_, now := m.state(kind, it.ID)
		if it.Archived != nil && *it.Archived != (now == "archived") {
			m.t.Errorf("%s: lists %s archived=%v, the sandbox holds it %s", tool, it.ID[:8], *it.Archived, now)
		}
		if now == "deleted" {
			m.t.Errorf("%s: lists %s, deleted in the sandbox", tool, it.ID[:8])
		}
	}
}

// TestSandboxVariantFlags: the variants are reachable from the command line: `tallyfy-mcp
// sandbox --variant` serves them (archiving an archived task answers 204, not 404), `--variant
// help` lists every one with its sources, an unknown one is refused with the known names, and
// --sandbox-variant sets them on the built-in sandbox (logged at start).
func TestSandboxVariantFlags(t *testing.T) {
	t.Parallel()
	url, stop := startSandboxBinary(t, "--variant", "archive-archived-200,millisecond-stamps")
	archive := func() int {
		req, _ := http.NewRequest(http.MethodDelete, url+"/organizations/"+sandbox.OrgID+"/tasks/"+sandbox.IDs.ArchivedTask, nil)
		req.Header.Set("Authorization", "Bearer "+sandbox.AdminToken)
		req.Header.Set("X-Tallyfy-Client", "APIClient")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := archive(); got != http.StatusNoContent {
		t.Errorf("archiving an archived task under archive-archived-200: %d, want 204", got)
	}
	if logged := stop(); !strings.Contains(logged, "archive-archived-200") || !strings.Contains(logged, "millisecond-stamps") {
		t.Errorf("the sandbox does not log its variants:\n%s", logged)
	}

	help := runBinary(t, nil, "sandbox", "--variant", "help")
	if code := help.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("--variant help exited %d", code)
	}
	for _, in := range sandbox.AllVariants() {
		if !strings.Contains(help.Stderr.String(), string(in.Variant)+"\n    "+in.Description) {
			t.Errorf("--variant help does not list %s with its description:\n%s", in.Variant, help.Stderr.String())
		}
	}

	bad := runBinary(t, nil, "sandbox", "--addr", "127.0.0.1:0", "--variant", "archive-archived-201")
	if code := bad.Wait(t, 10*time.Second); code == 0 || !strings.Contains(bad.Stderr.String(), "unknown sandbox variant") || !strings.Contains(bad.Stderr.String(), "listing-lag") {
		t.Errorf("an unknown variant: exit %d, stderr:\n%s", code, bad.Stderr.String())
	}

	p := harness.Start(t, harness.Config{Args: []string{"--sandbox", "--sandbox-variant", "activate-live-error"}})
	res := p.MustCall("activate_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
	if res.IsError || !strings.Contains(resultText(res), "already live") {
		t.Errorf("activate_run of a live run: %s", resultText(res))
	}
	if p.Stop(); !strings.Contains(p.Stderr.String(), "activate-live-error") {
		t.Errorf("the built-in sandbox does not log its variant:\n%s", p.Stderr.String())
	}
}

// TestArchiveTemplateReferencesThroughBinary: what archiving a template detached
// (deleted_references) reaches the result, its text and the audit file of the built binary,
// and the text does not promise that restore_template puts it back.
func TestArchiveTemplateReferencesThroughBinary(t *testing.T) {
	t.Parallel()
	audit := t.TempDir() + "/audit.jsonl"
	p := harness.Start(t, harness.Config{Args: []string{"--sandbox", "--audit-log", audit}})
	res := p.MustCall("archive_template", map[string]any{"template_id": sandbox.IDs.EmbeddedTemplate})
	var out struct {
		Changed    bool `json:"changed"`
		Reversible bool `json:"reversible"`
		Refs       []struct {
			Type, ID, Title string
		} `json:"deleted_references"`
	}
	structured(t, res, &out)
	text := resultText(res)
	if res.IsError || !out.Changed || !out.Reversible || len(out.Refs) != 1 || out.Refs[0].Type != "Step" || out.Refs[0].ID == "" {
		t.Fatalf("archive_template: %+v: %s", out, text)
	}
	for _, want := range []string{out.Refs[0].Title, "restore_template may not re-attach"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %s", want, text)
		}
	}
	if strings.Contains(text, "Undo with") {
		t.Errorf("text promises a full undo: %s", text)
	}
	p.Stop()
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Outcome string `json:"outcome"`
			Refs    []struct {
				ID string `json:"id"`
			} `json:"deleted_references"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Outcome == "ok" {
			found = len(rec.Refs) == 1 && rec.Refs[0].ID == out.Refs[0].ID
		}
	}
	if !found {
		t.Errorf("the audit's outcome record lacks deleted_references:\n%s", b)
	}
}
