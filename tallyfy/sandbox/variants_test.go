package sandbox

import (
	"strings"
	"testing"
	"time"
)

func TestParseVariants(t *testing.T) {
	vs, err := ParseVariants(" listing-lag, archive-archived-200,listing-lag,default")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0] != VariantListingLag || vs[1] != VariantArchiveArchived200 {
		t.Fatalf("got %v", vs)
	}
	if vs, err := ParseVariants(""); err != nil || len(vs) != 0 {
		t.Fatalf("empty spec: %v %v", vs, err)
	}
	_, err = ParseVariants("archive-archived-201")
	if err == nil || !strings.Contains(err.Error(), "archive-archived-201") || !strings.Contains(err.Error(), string(VariantListingLag)) {
		t.Fatalf("unknown variant: %v", err)
	}
}

func TestAllVariantsDescribed(t *testing.T) {
	all := AllVariants()
	mine := []Variant{VariantMillisecondStamps, VariantArchiveArchived200, VariantRestoreLive200, VariantActivateLiveError,
		VariantTaskDeleteArchived404, VariantArchivedTaskGet200, VariantArchivedRunGet404, VariantListingLag}
	seen := map[Variant]bool{}
	for i, in := range all {
		if i > 0 && all[i-1].Variant >= in.Variant {
			t.Errorf("not sorted at %s", in.Variant)
		}
		if in.Description == "" || in.Sources == "" || strings.Contains(in.Description, "\n") {
			t.Errorf("%s: want a one-line description and its sources, got %+v", in.Variant, in)
		}
		seen[in.Variant] = true
	}
	for _, v := range mine {
		if !seen[v] {
			t.Errorf("%s not registered", v)
		}
	}
}

func TestVariantsSwitchBehaviour(t *testing.T) {
	clock := time.Date(2026, 8, 1, 12, 0, 0, 123_000_000, time.UTC)
	e := newEnv(t, WithClock(func() time.Time { return clock }))
	task := org("/tasks/" + IDs.LiveTask)
	run := org("/runs/" + IDs.ActiveRun)
	tpl := org("/checklists/" + IDs.LiveTemplate)

	// Defaults: whole-second stamps, 404 archiving an archived item, 422 restoring a live one,
	// 200 activating a live run, archived task GET 404, archived run GET 200.
	wantEmpty(t, e.admin("DELETE", task), 204)
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.LastUpdated != "2026-08-01T12:00:00Z" {
		t.Fatalf("default stamp %q, want whole seconds", rec.LastUpdated)
	}
	wantError(t, e.admin("DELETE", task), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("GET", task), 404, "RESOURCE_NOT_FOUND")
	wantError(t, e.admin("PUT", tpl+"/restore"), 422, "NOT_ARCHIVED")
	wantStatus(t, e.admin("PUT", run+"/activate"), 200)
	wantStatus(t, e.admin("GET", org("/runs/"+IDs.ArchivedRun)), 200)

	e.sb.SetVariants(VariantMillisecondStamps, VariantArchiveArchived200, VariantRestoreLive200, VariantActivateLiveError,
		VariantTaskDeleteArchived404, VariantArchivedTaskGet200, VariantArchivedRunGet404)
	if got := e.sb.Variants(); len(got) != 7 {
		t.Fatalf("Variants() = %v", got)
	}
	wantEmpty(t, e.admin("DELETE", task), 204) // archive-archived-200 (a task answers 204)
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); rec.LastUpdated != "2026-08-01T12:00:00Z" || !rec.Archived {
		t.Fatalf("archiving an archived task changed it: %+v", rec)
	}
	if d := e.admin("GET", task).data(t); d["archived_at"] == nil { // archived-task-get-200
		t.Fatalf("archived task GET: %v", d)
	}
	wantError(t, e.admin("DELETE", task+"/delete"), 404, "RESOURCE_NOT_FOUND") // task-delete-archived-404
	if _, ok := e.sb.Lookup("task", IDs.LiveTask); !ok {
		t.Fatal("task deleted under task-delete-archived-404")
	}
	wantError(t, e.admin("PUT", run+"/activate"), 422, "NOT_ARCHIVED") // activate-live-error
	wantError(t, e.admin("GET", org("/runs/"+IDs.ArchivedRun)), 404, "RESOURCE_NOT_FOUND")
	if d := e.admin("PUT", tpl+"/restore").data(t); d["archived_at"] != nil { // restore-live-200
		t.Fatalf("restore of a live template: %v", d)
	}
	wantStatus(t, e.admin("DELETE", run), 200)
	if rec, _ := e.sb.Lookup("run", IDs.ActiveRun); rec.LastUpdated != "2026-08-01T12:00:00.123Z" {
		t.Fatalf("millisecond stamp %q", rec.LastUpdated)
	}
	before, _ := e.sb.Lookup("run", IDs.ActiveRun)
	wantStatus(t, e.admin("DELETE", run), 200) // archive-archived-200 on a run
	if after, _ := e.sb.Lookup("run", IDs.ActiveRun); after != before {
		t.Fatalf("archiving an archived run changed it: %+v -> %+v", before, after)
	}
}

func TestListingLag(t *testing.T) {
	e := newEnv(t, WithVariants(VariantListingLag))
	wantEmpty(t, e.admin("DELETE", org("/tasks/"+IDs.LiveTask)), 204)
	if rec, _ := e.sb.Lookup("task", IDs.LiveTask); !rec.Archived {
		t.Fatal("not archived")
	}
	if !contains(ids(e.admin("GET", org("/tasks?per_page=100")).list(t)), IDs.LiveTask) {
		t.Fatal("a lagging listing already shows the change")
	}
	if contains(ids(e.admin("GET", org("/tasks?archived=only&per_page=100")).list(t)), IDs.LiveTask) {
		t.Fatal("a lagging archived listing already shows the change")
	}
	time.Sleep(ListingLag + 50*time.Millisecond)
	if !contains(ids(e.admin("GET", org("/tasks?archived=only&per_page=100")).list(t)), IDs.LiveTask) {
		t.Fatal("the listing still lags after ListingLag")
	}
}

// TestProblemFilterIncludesIssue: docs list-processes: "The problem filter also returns issue
// processes".
func TestProblemFilterIncludesIssue(t *testing.T) {
	now := time.Now()
	for status, want := range map[string]bool{"problem": true, "issue": true, "active": false, "complete": false} {
		if got := runMatchesStatus(&run{Status: status}, "problem", now); got != want {
			t.Errorf("status %s under status=problem: %v, want %v", status, got, want)
		}
	}
	if runMatchesStatus(&run{Status: "problem"}, "issue", now) {
		t.Error("status=issue matches a problem run")
	}
	if runMatchesStatus(&run{Status: "issue", ArchivedAt: "2026-01-01T00:00:00Z"}, "problem", now) {
		t.Error("an archived issue run matches status=problem")
	}
}

// TestArchiveTemplateDeletedReferences: a template nothing embeds answers {} (docs since the
// 2026-03-01 rewrite); one a step embeds answers the list shape of the later docs revision.
func TestArchiveTemplateDeletedReferences(t *testing.T) {
	e := newEnv(t)
	if refs := e.admin("DELETE", org("/checklists/"+IDs.LiveTemplate)).json(t)["deleted_references"]; refs == nil || len(refs.(map[string]any)) != 0 {
		t.Errorf("LiveTemplate: deleted_references %v, want {}", refs)
	}
	refs, ok := e.admin("DELETE", org("/checklists/"+IDs.EmbeddedTemplate)).json(t)["deleted_references"].([]any)
	if !ok || len(refs) != 1 || refs[0].(map[string]any)["type"] != "Step" || refs[0].(map[string]any)["id"] == "" {
		t.Errorf("EmbeddedTemplate: deleted_references %v", refs)
	}
	// Archiving it again detaches nothing more (archive-archived-200: nothing changed).
	e.sb.SetVariants(VariantArchiveArchived200)
	if again := e.admin("DELETE", org("/checklists/"+IDs.EmbeddedTemplate)).json(t)["deleted_references"]; len(again.(map[string]any)) != 0 {
		t.Errorf("archived again: %v", again)
	}
}
