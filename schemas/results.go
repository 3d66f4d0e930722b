package schemas

// Task is what the tools report about a one-off task.
type Task struct {
	ID          string `json:"id" jsonschema:"description=Task ID"`
	Title       string `json:"title" jsonschema:"description=Task title"`
	Status      string `json:"status" jsonschema:"description=Tallyfy task status such as not-started or completed"`
	Archived    bool   `json:"archived" jsonschema:"description=True when the task is archived (restorable)"`
	OneOff      bool   `json:"one_off" jsonschema:"description=False when the task belongs to a process; such tasks are archived with their process"`
	RunID       string `json:"run_id,omitempty" jsonschema:"description=The process this task belongs to\\, if any"`
	Deadline    string `json:"deadline,omitempty" jsonschema:"description=Due date (ISO 8601)"`
	CreatedAt   string `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated string `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	CompletedAt string `json:"completed_at,omitempty" jsonschema:"description=Completion time (ISO 8601)"`
	ArchivedAt  string `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// Run is what the tools report about a process.
type Run struct {
	ID            string  `json:"id" jsonschema:"description=Process (run) ID"`
	Name          string  `json:"name" jsonschema:"description=Process name"`
	Status        string  `json:"status" jsonschema:"description=Tallyfy process status such as active\\, complete\\, problem or archived"`
	Archived      bool    `json:"archived" jsonschema:"description=True when the process is archived (restorable with activate_run)"`
	TemplateID    string  `json:"template_id,omitempty" jsonschema:"description=The template it was launched from"`
	TemplateTitle string  `json:"template_title,omitempty" jsonschema:"description=Title of that template"`
	Progress      float64 `json:"progress" jsonschema:"description=Percent of tasks done"`
	CreatedAt     string  `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated   string  `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	CompletedAt   string  `json:"completed_at,omitempty" jsonschema:"description=Completion time (ISO 8601)"`
	ArchivedAt    string  `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// Template is what the tools report about a template.
type Template struct {
	ID          string  `json:"id" jsonschema:"description=Template (checklist) ID"`
	Title       string  `json:"title" jsonschema:"description=Template title"`
	Summary     string  `json:"summary,omitempty" jsonschema:"description=Template summary"`
	Status      string  `json:"status,omitempty" jsonschema:"description=Tallyfy template status"`
	Archived    bool    `json:"archived" jsonschema:"description=True when the template is archived (restorable with restore_template)"`
	StepsCount  float64 `json:"steps_count" jsonschema:"description=Number of steps"`
	CreatedAt   string  `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated string  `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	ArchivedAt  string  `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// GetTaskResult is get_task's answer.
type GetTaskResult struct {
	Task Task `json:"task" jsonschema:"description=The task"`
}

// GetRunResult is get_run's answer.
type GetRunResult struct {
	Run Run `json:"run" jsonschema:"description=The process"`
}

// GetTemplateResult is get_template's answer.
type GetTemplateResult struct {
	Template Template `json:"template" jsonschema:"description=The template"`
}

// PageInfo says where a list page sits.
type PageInfo struct {
	Page       int  `json:"page" jsonschema:"description=This page number"`
	PerPage    int  `json:"per_page" jsonschema:"description=Items per page"`
	Total      int  `json:"total" jsonschema:"description=Items in all pages"`
	TotalPages int  `json:"total_pages" jsonschema:"description=Number of pages"`
	HasMore    bool `json:"has_more" jsonschema:"description=True when a later page exists: call again with page+1"`
}

// ListTasksResult is list_tasks' answer.
type ListTasksResult struct {
	Tasks []Task   `json:"tasks" jsonschema:"description=One-off tasks on this page"`
	Page  PageInfo `json:"page_info" jsonschema:"description=Paging"`
}

// ListRunsResult is list_runs' answer.
type ListRunsResult struct {
	Runs []Run    `json:"runs" jsonschema:"description=Processes on this page"`
	Page PageInfo `json:"page_info" jsonschema:"description=Paging"`
}

// ListTemplatesResult is list_templates' answer.
type ListTemplatesResult struct {
	Templates []Template `json:"templates" jsonschema:"description=Templates on this page"`
	Page      PageInfo   `json:"page_info" jsonschema:"description=Paging"`
}

// Resource names what a lifecycle or delete tool acted on.
type Resource struct {
	Type        string `json:"type" jsonschema:"description=task\\, run or template,enum=task,enum=run,enum=template"`
	ID          string `json:"id" jsonschema:"description=Its ID"`
	Name        string `json:"name" jsonschema:"description=Its title or name"`
	State       string `json:"state" jsonschema:"description=live\\, archived or deleted (gone for good),enum=live,enum=archived,enum=deleted"`
	Status      string `json:"status,omitempty" jsonschema:"description=Tallyfy status"`
	LastUpdated string `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
}

// Undo is the call that reverses a lifecycle action.
type Undo struct {
	Tool      string            `json:"tool" jsonschema:"description=Tool that reverses this action"`
	Arguments map[string]string `json:"arguments" jsonschema:"description=Arguments for that tool"`
}

// LifecycleResult is the answer of archive_*, restore_* and activate_run.
type LifecycleResult struct {
	Action     string   `json:"action" jsonschema:"description=What was asked,enum=archive,enum=restore,enum=activate"`
	Resource   Resource `json:"resource" jsonschema:"description=The item and its state now"`
	Changed    bool     `json:"changed" jsonschema:"description=False when it was already in the asked state and nothing was written"`
	Reversible bool     `json:"reversible" jsonschema:"description=True: this can be undone with the undo call"`
	Undo       Undo     `json:"undo" jsonschema:"description=How to reverse it"`
	Message    string   `json:"message" jsonschema:"description=What happened in one sentence"`
}

// Preview shows the person what a permanent delete would destroy.
type Preview struct {
	Type        string `json:"type" jsonschema:"description=task\\, run or template"`
	ID          string `json:"id" jsonschema:"description=Its ID"`
	Name        string `json:"name" jsonschema:"description=Its title or name"`
	State       string `json:"state" jsonschema:"description=Its state now (always archived)"`
	ArchivedAt  string `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
	LastUpdated string `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	Destroys    string `json:"destroys" jsonschema:"description=What is lost for good"`
}

// DeleteResult is the answer of delete_task, delete_run and delete_template.
type DeleteResult struct {
	Status       string   `json:"status" jsonschema:"description=confirmation_required: nothing deleted yet; deleted: gone for good; cancelled: the person said no and nothing was deleted,enum=confirmation_required,enum=deleted,enum=cancelled"`
	Resource     Resource `json:"resource" jsonschema:"description=The item and its state now"`
	Reversible   bool     `json:"reversible" jsonschema:"description=Always false: a permanent delete cannot be undone"`
	Preview      *Preview `json:"preview,omitempty" jsonschema:"description=With confirmation_required: what would be destroyed"`
	ConfirmToken string   `json:"confirm_token,omitempty" jsonschema:"description=With confirmation_required: pass it back as confirm_token once the person agrees; single use"`
	ExpiresAt    string   `json:"expires_at,omitempty" jsonschema:"description=When the confirm_token stops working (ISO 8601)"`
	Confirmation string   `json:"confirmation,omitempty" jsonschema:"description=How the delete was confirmed: elicitation\\, token or off"`
	Message      string   `json:"message" jsonschema:"description=What happened and what to do next"`
}

func (GetTaskResult) isResult()       {}
func (GetRunResult) isResult()        {}
func (GetTemplateResult) isResult()   {}
func (ListTasksResult) isResult()     {}
func (ListRunsResult) isResult()      {}
func (ListTemplatesResult) isResult() {}
func (LifecycleResult) isResult()     {}
func (DeleteResult) isResult()        {}
