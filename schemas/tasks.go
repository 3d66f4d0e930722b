package schemas

// One-off tasks: arguments and results.

// TaskIDArgs names one one-off task.
type TaskIDArgs struct {
	TaskID string `json:"task_id" jsonschema:"description=One-off task ID (from list_tasks),pattern=^[a-f0-9]{32}$"`
}

// DeleteTaskArgs names the one-off task to delete permanently.
type DeleteTaskArgs struct {
	TaskIDArgs
	ConfirmArgs
}

// Task is what the tools report about a one-off task.
type Task struct {
	ID          string `json:"id" jsonschema:"description=Task ID"`
	Title       string `json:"title" jsonschema:"description=Task title"`
	Status      string `json:"status" jsonschema:"description=Tallyfy task status such as not-started or completed"`
	Archived    *bool  `json:"archived" jsonschema:"oneof_type=boolean;null,description=True when the task is archived (restorable); null when Tallyfy did not say (list with archived=only to see which are)"`
	OneOff      bool   `json:"one_off" jsonschema:"description=False when the task belongs to a process; such tasks are archived with their process. A one-off task may still name a run_id"`
	RunID       string `json:"run_id,omitempty" jsonschema:"description=The process this task belongs to\\, if any"`
	Deadline    string `json:"deadline,omitempty" jsonschema:"description=Due date (ISO 8601)"`
	CreatedAt   string `json:"created_at,omitempty" jsonschema:"description=Creation time (ISO 8601)"`
	LastUpdated string `json:"last_updated,omitempty" jsonschema:"description=Last change (ISO 8601)"`
	CompletedAt string `json:"completed_at,omitempty" jsonschema:"description=Completion time (ISO 8601)"`
	ArchivedAt  string `json:"archived_at,omitempty" jsonschema:"description=Archive time (ISO 8601)"`
}

// GetTaskResult is get_task's answer.
type GetTaskResult struct {
	Task Task `json:"task" jsonschema:"description=The task"`
}

// ListTasksResult is list_tasks' answer.
type ListTasksResult struct {
	Tasks []Task   `json:"tasks" jsonschema:"description=One-off tasks on this page"`
	Page  PageInfo `json:"page_info" jsonschema:"description=Paging"`
	// SearchIncomplete: with a query, titles are matched over a bounded number of pages.
	SearchIncomplete bool `json:"search_incomplete,omitempty" jsonschema:"description=True when a query searched only some one-off tasks' titles; the text says how to go on"`
}
