package schemas

// Templates: arguments and results.

// TemplateIDArgs names one template.
type TemplateIDArgs struct {
	TemplateID string `json:"template_id" jsonschema:"description=Template ID (from list_templates),pattern=^[a-f0-9]{32}$"`
}

// DeleteTemplateArgs names the template to delete permanently.
type DeleteTemplateArgs struct {
	TemplateIDArgs
	ConfirmArgs
}

// Template is what the tools report about a template.
type Template struct {
	ID          string   `json:"id" jsonschema:"description=Template (checklist) ID"`
	Title       string   `json:"title" jsonschema:"description=Template title"`
	Summary     string   `json:"summary,omitempty" jsonschema:"description=Template summary"`
	Status      string   `json:"status,omitempty" jsonschema:"description=Tallyfy template status"`
	Archived    *bool    `json:"archived" jsonschema:"oneof_type=boolean;null,description=True when the template is archived (restorable with restore_template); null when Tallyfy did not say (list with archived=only to see which are)"`
	StepsCount  *float64 `json:"steps_count" jsonschema:"oneof_type=number;null,description=Number of steps; null when Tallyfy did not say"`
	CreatedAt   string   `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated string   `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	ArchivedAt  string   `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// GetTemplateResult is get_template's answer.
type GetTemplateResult struct {
	Template Template `json:"template" jsonschema:"description=The template"`
}

// ListTemplatesResult is list_templates' answer.
type ListTemplatesResult struct {
	Templates []Template `json:"templates" jsonschema:"description=Templates on this page"`
	Page      PageInfo   `json:"page_info" jsonschema:"description=Paging"`
}

// ArchiveTemplateResult is archive_template's answer: the lifecycle result and what Tallyfy
// detached from the template (docs/tallyfy-api.md §1.7).
type ArchiveTemplateResult struct {
	LifecycleResult
	DeletedReferences []Reference `json:"deleted_references,omitempty" jsonschema:"description=What Tallyfy detached; restore_template may not re-attach it"`
}
