// Package schemas holds the argument and result types of every tool and turns them into the
// flat JSON Schemas that MCP hosts read. It knows nothing of HTTP.
package schemas

// IDPattern is the format of every Tallyfy ID.
const IDPattern = `^[a-f0-9]{32}$`

// TaskIDArgs names one one-off task.
type TaskIDArgs struct {
	TaskID string `json:"task_id" jsonschema:"description=One-off task ID (from list_tasks),pattern=^[a-f0-9]{32}$"`
}

// RunIDArgs names one process (run).
type RunIDArgs struct {
	RunID string `json:"run_id" jsonschema:"description=Process ID (from list_runs),pattern=^[a-f0-9]{32}$"`
}

// TemplateIDArgs names one template.
type TemplateIDArgs struct {
	TemplateID string `json:"template_id" jsonschema:"description=Template ID (from list_templates),pattern=^[a-f0-9]{32}$"`
}

// DeleteTaskArgs names the one-off task to delete permanently.
type DeleteTaskArgs struct {
	TaskIDArgs
	ConfirmToken string `json:"confirm_token,omitempty" jsonschema:"description=Omit at first. Only after a confirmation_required answer and the person's explicit yes: the token it gave,maxLength=1024"`
}

// DeleteRunArgs names the process to delete permanently.
type DeleteRunArgs struct {
	RunIDArgs
	ConfirmToken string `json:"confirm_token,omitempty" jsonschema:"description=Omit at first. Only after a confirmation_required answer and the person's explicit yes: the token it gave,maxLength=1024"`
}

// DeleteTemplateArgs names the template to delete permanently.
type DeleteTemplateArgs struct {
	TemplateIDArgs
	ConfirmToken string `json:"confirm_token,omitempty" jsonschema:"description=Omit at first. Only after a confirmation_required answer and the person's explicit yes: the token it gave,maxLength=1024"`
}

// ListArgs are the arguments of the three list tools.
type ListArgs struct {
	Query    string `json:"query,omitempty" jsonschema:"description=Text to search for in the name or title,maxLength=200"`
	Archived string `json:"archived,omitempty" jsonschema:"description=exclude (default): live only; include: live and archived; only: archived only,enum=exclude,enum=include,enum=only,default=exclude"`
	Page     int    `json:"page,omitempty" jsonschema:"description=Page number (default 1),minimum=1,maximum=100000"`
	PerPage  int    `json:"per_page,omitempty" jsonschema:"description=Items per page (default 20),minimum=1,maximum=100"`
}
