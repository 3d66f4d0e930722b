package schemas

// Processes (runs): arguments and results.

// RunIDArgs names one process (run).
type RunIDArgs struct {
	RunID string `json:"run_id" jsonschema:"description=Process ID (from list_runs),pattern=^[a-f0-9]{32}$"`
}

// DeleteRunArgs names the process to delete permanently.
type DeleteRunArgs struct {
	RunIDArgs
	ConfirmArgs
}

// Run is what the tools report about a process.
type Run struct {
	ID            string   `json:"id" jsonschema:"description=Process (run) ID"`
	Name          string   `json:"name" jsonschema:"description=Process name"`
	Status        string   `json:"status" jsonschema:"description=Tallyfy process status such as active\\, complete\\, problem or archived"`
	Archived      *bool    `json:"archived" jsonschema:"oneof_type=boolean;null,description=True when the process is archived (restorable with activate_run); null when Tallyfy did not say"`
	TemplateID    string   `json:"template_id,omitempty" jsonschema:"description=The template it was launched from"`
	TemplateTitle string   `json:"template_title,omitempty" jsonschema:"description=Title of that template"`
	Progress      *float64 `json:"progress" jsonschema:"oneof_type=number;null,description=Percent of tasks done; null when Tallyfy did not say"`
	CreatedAt     string   `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated   string   `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	CompletedAt   string   `json:"completed_at,omitempty" jsonschema:"description=Completion time (ISO 8601)"`
	ArchivedAt    string   `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// GetRunResult is get_run's answer.
type GetRunResult struct {
	Run Run `json:"run" jsonschema:"description=The process"`
}

// ListRunsResult is list_runs' answer.
type ListRunsResult struct {
	Runs []Run    `json:"runs" jsonschema:"description=Processes on this page"`
	Page PageInfo `json:"page_info" jsonschema:"description=Paging"`
}
