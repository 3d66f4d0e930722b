package tools

import (
	"context"
	"fmt"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

var templateResource = resource{
	kind: tallyfy.KindTemplate, idArg: "template_id", noun: "template", restore: "restore",
	destroys: "the template with its steps, kick-off form and automations (processes already launched from it are kept)",
	find: func(ctx context.Context, c *tallyfy.Client, id string) (any, string, tallyfy.Entity, error) {
		t, err := c.FindTemplate(ctx, id)
		if err != nil {
			return nil, "", tallyfy.Entity{}, err
		}
		v := templateView(t)
		return schemas.GetTemplateResult{Template: v}, templateLine(v), t.Entity(), nil
	},
	list: func(ctx context.Context, c *tallyfy.Client, opts tallyfy.ListOptions) (any, string, error) {
		p, err := c.ListTemplates(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		res := schemas.ListTemplatesResult{Templates: make([]schemas.Template, 0, len(p.Items)), Page: pageInfo(p.Pagination)}
		lines := make([]string, 0, len(p.Items))
		for i := range p.Items {
			v := templateView(&p.Items[i])
			res.Templates = append(res.Templates, v)
			lines = append(lines, templateLine(v))
		}
		return res, listText("templates", res.Page, lines, opts), nil
	},
	doArchive: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		_, err := c.ArchiveTemplate(ctx, id)
		return nil, err
	},
	doRestore: func(ctx context.Context, c *tallyfy.Client, id string) (*tallyfy.Entity, error) {
		t, err := c.RestoreTemplate(ctx, id)
		return entityPtr(t, t != nil), err
	},
	doDelete: func(ctx context.Context, c *tallyfy.Client, id string) error {
		_, err := c.DeleteTemplate(ctx, id)
		return err
	},
}

func templateView(t *tallyfy.Template) schemas.Template {
	e := t.Entity()
	return schemas.Template{ID: t.ID, Title: t.Title, Summary: deref(t.Summary), Status: t.Status, Archived: archivedView(e),
		StepsCount: t.StepsCount, CreatedAt: t.CreatedAt, LastUpdated: t.LastUpdated, ArchivedAt: e.ArchivedAt}
}

func templateLine(v schemas.Template) string {
	s := fmt.Sprintf("%q (template_id %s): %s", v.Title, v.ID, archivedWord(v.Archived))
	if v.StepsCount != nil {
		s += fmt.Sprintf(", %.0f steps", *v.StepsCount)
	}
	return s
}
