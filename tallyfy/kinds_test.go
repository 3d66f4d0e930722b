package tallyfy

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestKindOperations: the kind-generic operations reach each kind's endpoints and say what the
// answer said: a task's archive names nothing (204), a run's is the run, a template's is what
// it detached (deleted_references); a restore answers with the item, live; Lookup then reads
// the state asked for, and after a permanent delete, not found.
func TestKindOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startSandbox(t).admin(t)
	for _, k := range []struct {
		kind         Kind
		id           string
		archiveNames bool // the archive's answer is the item
		detached     int  // references the archive detached
	}{
		{KindTask, sandbox.IDs.LiveTask, false, 0},
		{KindRun, sandbox.IDs.CompleteRun, true, 0},
		{KindTemplate, sandbox.IDs.EmbeddedTemplate, false, 1},
	} {
		ch, err := c.Archive(ctx, k.kind, k.id)
		if err != nil || (ch.Item != nil) != k.archiveNames || len(ch.Detached) != k.detached {
			t.Fatalf("Archive(%s) = %+v, %v", k.kind, ch, err)
		}
		if ch.Item != nil && (ch.Item.ID != k.id || ch.Item.Kind != k.kind || !ch.Item.Archived || !ch.Item.ArchivedKnown) {
			t.Errorf("Archive(%s) answered %+v, want the archived item", k.kind, *ch.Item)
		}
		if k.detached > 0 && (ch.Detached[0].Type != "Step" || ch.Detached[0].ID == "") {
			t.Errorf("Archive(%s) detached %+v, want the embedding step", k.kind, ch.Detached)
		}
		if e, err := c.Lookup(ctx, k.kind, k.id); err != nil || !e.Archived {
			t.Errorf("after Archive(%s): Lookup = %+v, %v", k.kind, e, err)
		}

		ch, err = c.Restore(ctx, k.kind, k.id)
		if err != nil || ch.Item == nil || ch.Item.ID != k.id || ch.Item.Archived || !ch.Item.ArchivedKnown || ch.Detached != nil {
			t.Fatalf("Restore(%s) = %+v, %v; want the live item", k.kind, ch, err)
		}
		if e, err := c.Lookup(ctx, k.kind, k.id); err != nil || e.Archived {
			t.Errorf("after Restore(%s): Lookup = %+v, %v", k.kind, e, err)
		}

		if _, err := c.Archive(ctx, k.kind, k.id); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, k.kind, k.id); err != nil {
			t.Fatalf("Delete(%s): %v", k.kind, err)
		}
		if _, err := c.Lookup(ctx, k.kind, k.id); !IsNotFound(err) {
			t.Errorf("after Delete(%s): Lookup error %v, want not found", k.kind, err)
		}
	}
}

// TestKindListAndFind: List and Find by kind give the kind's own items (what the tools render),
// with the page's paging.
func TestKindListAndFind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startSandbox(t).admin(t)
	for kind, id := range map[Kind]string{KindTask: sandbox.IDs.LiveTask, KindRun: sandbox.IDs.ActiveRun, KindTemplate: sandbox.IDs.LiveTemplate} {
		want := map[Kind]string{KindTask: "*tallyfy.Task", KindRun: "*tallyfy.Run", KindTemplate: "*tallyfy.Template"}[kind]
		p, err := c.List(ctx, kind, ListOptions{PerPage: 100})
		if err != nil || len(p.Items) == 0 || p.Pagination.Total != len(p.Items) || p.HasMore() {
			t.Fatalf("List(%s) = %+v, %v", kind, p, err)
		}
		listed := false
		for _, it := range p.Items {
			if got := fmt.Sprintf("%T", it); got != want {
				t.Errorf("List(%s) item is a %s, want %s", kind, got, want)
			}
			e := it.Entity()
			listed = listed || e.ID == id
			if e.Kind != kind || !e.ArchivedKnown || e.Archived {
				t.Errorf("List(%s) item %+v: want a live %s", kind, e, kind)
			}
		}
		if !listed {
			t.Errorf("List(%s) does not hold %s", kind, id)
		}
		it, err := c.Find(ctx, kind, id)
		if err != nil || fmt.Sprintf("%T", it) != want || it.Entity().ID != id {
			t.Errorf("Find(%s) = %#v, %v", kind, it, err)
		}
	}
}

// TestUnknownKindSendsNothing: every kind-generic operation refuses a kind it does not know
// before any request.
func TestUnknownKindSendsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)
	c := env.admin(t)
	n := len(env.sb.RequestLog())
	const folder Kind = "folder"
	_, findErr := c.Find(ctx, folder, validID)
	_, lookupErr := c.Lookup(ctx, folder, validID)
	_, listErr := c.List(ctx, folder, ListOptions{})
	_, settleErr := c.Settle(ctx, folder, nil)
	_, archiveErr := c.Archive(ctx, folder, validID)
	_, restoreErr := c.Restore(ctx, folder, validID)
	deleteErr := c.Delete(ctx, folder, validID)
	for name, err := range map[string]error{"Find": findErr, "Lookup": lookupErr, "List": listErr, "Settle": settleErr,
		"Archive": archiveErr, "Restore": restoreErr, "Delete": deleteErr} {
		if err == nil || !strings.Contains(err.Error(), `unknown kind "folder"`) {
			t.Errorf("%s(folder) error = %v", name, err)
		}
	}
	if sent := env.requestsSince(n); len(sent) != 0 {
		t.Errorf("requests sent for an unknown kind: %q", sent)
	}
}
