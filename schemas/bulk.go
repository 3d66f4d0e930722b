package schemas

// Bulk archive, restore and permanent delete: arguments and results.

// BulkArgs selects the items of a bulk call: ids, or a filter (query). Without plan_token the
// call only plans; with it, it executes that plan.
type BulkArgs struct {
	Type      string   `json:"type" jsonschema:"description=What the items are: task (one-off tasks)\\, run (processes) or template,enum=task,enum=run,enum=template"`
	IDs       []string `json:"ids,omitempty" jsonschema:"description=The items' IDs (1 to 100) from the list tools; or leave out and select with the filters below,minItems=1,maxItems=100"`
	PlanToken string   `json:"plan_token,omitempty" jsonschema:"description=Leave out to get a plan: nothing changes. To execute it\\, call again with the plan's execute arguments: they carry this token"`
	// Instead of ids, the list tools' filters (archived follows from the verb). template_id is
	// left out to keep tools/list within budget: list_runs takes it, then pass the ids.
	Query         string `json:"query,omitempty" jsonschema:"description=Filter: words in the name or title"`
	Status        string `json:"status,omitempty" jsonschema:"description=Filter for type run: the process status,enum=active,enum=complete,enum=problem,enum=issue,enum=improvement,enum=delayed,enum=starred"`
	UpdatedBefore string `json:"updated_before,omitempty" jsonschema:"description=Filter: last updated before this RFC 3339 time"`
	UpdatedAfter  string `json:"updated_after,omitempty" jsonschema:"description=Filter: last updated at or after this RFC 3339 time"`
}

// BulkItem is one item of a plan or of its execution.
type BulkItem struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	State       string  `json:"state,omitempty" jsonschema:"description=live\\, archived or deleted"`
	LastUpdated string  `json:"last_updated,omitempty"`
	Outcome     Outcome `json:"outcome"` // planned, skipped, ok, noop, failed, not_run, unknown
	Reason      string  `json:"reason,omitempty"`
}

// BulkCall is a bulk call to make next: the execute call of a plan, or the undo of a batch.
// Its arguments are type, ids and (to execute) plan_token; a plain object in the schema keeps
// tools/list small (it is paid for in every conversation).
type BulkCall struct {
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments"`
}

// BulkTotals counts a batch's items by outcome (planned, ok, noop, skipped, failed, not_run).
type BulkTotals map[Outcome]int

// BulkResult is the answer of bulk_archive, bulk_restore and bulk_delete.
type BulkResult struct {
	// Status: planned (nothing changed yet), done, stopped (a 401/403 ended it), cancelled.
	Status  Outcome    `json:"status"`
	Action  string     `json:"action"` // archive, restore, delete
	Type    string     `json:"type"`
	BatchID string     `json:"batch_id"`
	Items   []BulkItem `json:"items" jsonschema:"description=Every item and its outcome (skipped ones with why)"`
	Totals  BulkTotals `json:"totals"`
	// MoreMatched: the filter matched more than the cap; only the first ones are planned.
	MoreMatched bool `json:"more_matched,omitempty"`
	// SearchIncomplete: a query over one-off task titles read only the first titles; the
	// message says which.
	SearchIncomplete bool      `json:"search_incomplete,omitempty"`
	DeletesLeft      *int      `json:"deletes_left,omitempty" jsonschema:"description=Permanent deletes left in this hour's budget before this plan (-1: no cap)"`
	PlanToken        string    `json:"plan_token,omitempty"`
	ExpiresAt        string    `json:"expires_at,omitempty"`
	Execute          *BulkCall `json:"execute,omitempty" jsonschema:"description=With planned: the call that executes the plan"`
	Undo             *BulkCall `json:"undo,omitempty" jsonschema:"description=After archive or restore: the call that reverses it"`
	// Confirmation, ConfirmedBy, ApprovalID: as in DeleteResult.
	Confirmation string `json:"confirmation,omitempty"`
	ConfirmedBy  string `json:"confirmed_by,omitempty"`
	ApprovalID   string `json:"approval_id,omitempty"`
	Message      string `json:"message"`
}
