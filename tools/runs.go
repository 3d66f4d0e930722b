package tools

import (
	"context"
	"fmt"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

var runResource = resource{
	kind: tallyfy.KindRun, idArg: "run_id", noun: "process", restore: "activate",
	destroys: "the process and all its tasks, comments, form values, attachments, tags and watchers",
	find: func(ctx context.Context, c *tallyfy.Client, id string) (any, string, tallyfy.Entity, error) {
		r, err := c.FindRun(ctx, id)
		if err != nil {
			return nil, "", tallyfy.Entity{}, err
		}
		v := runView(r)
		return schemas.GetRunResult{Run: v}, runLine(v), r.Entity(), nil
	},
	list: func(ctx context.Context, c *tallyfy.Client, opts tallyfy.ListOptions) (any, string, error) {
		p, err := c.ListRuns(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		res := schemas.ListRunsResult{Runs: make([]schemas.Run, 0, len(p.Items)), Page: pageInfo(p.Pagination)}
		lines := make([]string, 0, len(p.Items))
		for i := range p.Items {
			v := runView(&p.Items[i])
			res.Runs = append(res.Runs, v)
			lines = append(lines, runLine(v))
		}
		return res, listText("processes", res.Page, lines, opts), nil
	},
	doArchive: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		r, err := c.ArchiveRun(ctx, id)
		return entityPtr(r, r != nil), err
	},
	doRestore: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		r, err := c.ActivateRun(ctx, id)
		return entityPtr(r, r != nil), err
	},
	doDelete: func(ctx context.Context, c *tallyfy.Client, id string) error { return c.DeleteRun(ctx, id) },
}

func runView(r *tallyfy.Run) schemas.Run {
	e := r.Entity()
	return schemas.Run{ID: r.ID, Name: r.Name, Status: r.Status, Archived: archivedView(e), TemplateID: r.ChecklistID, TemplateTitle: r.ChecklistTitle,
		Progress: r.Progress, CreatedAt: r.CreatedAt, LastUpdated: r.LastUpdated, CompletedAt: deref(r.CompletedAt), ArchivedAt: e.ArchivedAt}
}

func runLine(v schemas.Run) string {
	s := fmt.Sprintf("%q (run_id %s): %s", v.Name, v.ID, v.Status)
	if v.Progress != nil {
		s += fmt.Sprintf(", %.0f%% done", *v.Progress)
	}
	if v.Archived != nil && *v.Archived && v.Status != "archived" {
		s += ", archived"
	}
	if v.TemplateTitle != "" {
		s += ", from template " + fmt.Sprintf("%q", v.TemplateTitle)
	}
	return s
}
