package tallyfy

import (
	"context"
	"encoding/json"
	"net/http"
)

// Templates (checklists): docs/tallyfy-api.md §1.7–1.9, §2.5–2.6.

const templatesPath = "checklists"

// GetTemplate fetches one live template (GET /checklists/{id}). Tallyfy answers 404 for an
// archived template; use Lookup to see archived ones.
func (c *Client) GetTemplate(ctx context.Context, id string) (*Template, error) {
	t, err := getOne[Template, templateWire](ctx, c, KindTemplate, templatesPath, id)
	if err != nil {
		return nil, err
	}
	if !t.archived.known() {
		// Only live templates answer a GET (docs/tallyfy-api.md §2.5), and the get-template
		// example carries archived_at anyway; a template without it is live.
		t.archived = archivedNo
	}
	return t, nil
}

// ListTemplates lists templates (GET /checklists).
func (c *Client) ListTemplates(ctx context.Context, opts ListOptions) (*Page[Template], error) {
	return list[Template, templateWire](ctx, c, templatesPath, opts, nil)
}

// ArchiveTemplate archives a template (DELETE /checklists/{id}; 200 {message, deleted_references}).
func (c *Client) ArchiveTemplate(ctx context.Context, id string) (*TemplateDeletion, error) {
	return c.templateDeletion(ctx, id, "", retrySafe)
}

// RestoreTemplate restores an archived template (PUT /checklists/{id}/restore). The template
// is nil when Tallyfy answers without a body.
func (c *Client) RestoreTemplate(ctx context.Context, id string) (*Template, error) {
	return mutateItem[Template, templateWire](ctx, c, KindTemplate, http.MethodPut, templatesPath, id, "restore")
}

// DeleteTemplate permanently deletes an archived template (DELETE /checklists/{id}/delete).
// Admin only; an error while the template is live.
func (c *Client) DeleteTemplate(ctx context.Context, id string) (*TemplateDeletion, error) {
	return c.templateDeletion(ctx, id, "delete", retryUnsent)
}

// templateDeletion sends a template's archive or permanent delete, whose answer is not the
// template but {message, deleted_references} (or nothing).
func (c *Client) templateDeletion(ctx context.Context, id, suffix string, class retryClass) (*TemplateDeletion, error) {
	r, p, err := c.mutate(ctx, KindTemplate, http.MethodDelete, templatesPath, id, suffix, class)
	if err != nil {
		return nil, err
	}
	var d TemplateDeletion
	if len(trimSpace(r.Body)) == 0 {
		return &d, nil
	}
	if err := json.Unmarshal(r.Body, &d); err != nil {
		return nil, r.unusable(http.MethodDelete, p, describeJSONError(r, err))
	}
	return &d, nil
}
