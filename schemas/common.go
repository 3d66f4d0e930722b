package schemas

import "github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"

// Arguments and results shared by every kind.

// IDPattern is the format of every Tallyfy ID (the `pattern` of every *_id argument; the
// struct tags must spell it out, and a test checks they match).
const IDPattern = tallyfy.IDPattern

// ListArgs are the arguments of the three list tools.
type ListArgs struct {
	Query    string `json:"query,omitempty" jsonschema:"description=Words in the name or title,maxLength=200"`
	Archived string `json:"archived,omitempty" jsonschema:"description=exclude (default): live only; include: both; only: archived only,enum=exclude,enum=include,enum=only,default=exclude"`
	Page     int    `json:"page,omitempty" jsonschema:"description=Page number (default 1),minimum=1,maximum=100000"`
	PerPage  int    `json:"per_page,omitempty" jsonschema:"description=Items per page (default 20),minimum=1,maximum=100"`
	// Tallyfy has no parameter for these: the server filters each page it returns.
	UpdatedBefore string `json:"updated_before,omitempty" jsonschema:"description=RFC 3339: updated before (checked here per page)"`
	UpdatedAfter  string `json:"updated_after,omitempty" jsonschema:"description=RFC 3339: updated at or after (checked here per page)"`
}

// ListRunsArgs are list_runs' arguments: the shared ones and the runs list's own filters
// (docs/tallyfy-api.md §2.4).
type ListRunsArgs struct {
	ListArgs
	Status     string `json:"status,omitempty" jsonschema:"description=Process status (for archived ones use archived),enum=active,enum=complete,enum=problem,enum=issue,enum=improvement,enum=delayed,enum=starred"`
	TemplateID string `json:"template_id,omitempty" jsonschema:"description=Only processes launched from this template,pattern=^[a-f0-9]{32}$"`
}

// ConfirmArgs is what a permanent delete takes besides the item's ID.
type ConfirmArgs struct {
	ConfirmToken string `json:"confirm_token,omitempty" jsonschema:"description=Omit at first. Only after a confirmation_required answer and the person's explicit yes: the token it gave,maxLength=1024"`
}

// PageInfo says where a list page sits.
type PageInfo struct {
	Page       int  `json:"page" jsonschema:"description=This page number"`
	PerPage    int  `json:"per_page" jsonschema:"description=Items per page"`
	Total      int  `json:"total" jsonschema:"description=Items in all pages"`
	TotalPages int  `json:"total_pages" jsonschema:"description=Number of pages"`
	HasMore    bool `json:"has_more" jsonschema:"description=True when a later page exists: call again with page+1"`
	// FilteredOut counts the items of Tallyfy's page that updated_before/updated_after left
	// out: the page keeps Tallyfy's paging (total, has_more), so an empty page may have more.
	FilteredOut int `json:"filtered_out,omitempty" jsonschema:"description=Items of this page left out by updated_* (counted in total)"`
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

// Reference is one thing Tallyfy detached when it archived a template.
type Reference struct {
	Type  string `json:"type" jsonschema:"description=What held it (e.g. Blueprint\\, Step)"`
	ID    string `json:"id,omitempty" jsonschema:"description=Its ID"`
	Title string `json:"title,omitempty" jsonschema:"description=Its title"`
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
	Status       Outcome  `json:"status" jsonschema:"description=confirmation_required or approval_pending: nothing deleted yet; deleted: gone for good; cancelled: the person said no,enum=confirmation_required,enum=approval_pending,enum=deleted,enum=cancelled"`
	Resource     Resource `json:"resource" jsonschema:"description=The item and its state now"`
	Reversible   bool     `json:"reversible" jsonschema:"description=Always false: a permanent delete cannot be undone"`
	Preview      *Preview `json:"preview,omitempty" jsonschema:"description=With confirmation_required: what would be destroyed"`
	ConfirmToken string   `json:"confirm_token,omitempty" jsonschema:"description=With confirmation_required: pass it back as confirm_token once the person agrees; single use"`
	ExpiresAt    string   `json:"expires_at,omitempty" jsonschema:"description=When the confirm_token stops working (ISO 8601)"`
	Confirmation string   `json:"confirmation,omitempty"` // the Channel: app, elicitation, approval_page, token or off
	ConfirmedBy  string   `json:"confirmed_by,omitempty"`
	ApprovalID   string   `json:"approval_id,omitempty"`
	Message      string   `json:"message" jsonschema:"description=What happened and what to do next"`
}
