package schemas

// The app-only tools of the MCP App that reviews a permanent delete (README "In an MCP App"):
// the view calls them, the host never offers them to the model. Their arguments carry no
// schema descriptions: no model reads them, and the whole tools/list has a budget (issue 20).

// AppReviewArgs names what the view shows: the items of a delete's preview or bulk plan.
type AppReviewArgs struct {
	Type string   `json:"type" jsonschema:"enum=task,enum=run,enum=template"`
	IDs  []string `json:"ids" jsonschema:"minItems=1,maxItems=100"`
	Bulk bool     `json:"bulk,omitempty"` // a bulk_delete plan (else a single delete of one id)
}

// AppReview is what the person reviews, read again just now, with the sealed approval the
// view passes back when they press Delete or Cancel. No outputSchema is served for it: only
// the view reads it.
type AppReview struct {
	Tool        string     `json:"tool"` // the delete tool this approves
	Type        string     `json:"type"`
	Items       []BulkItem `json:"items"`        // every item: planned ones are deleted on approval
	Count       int        `json:"count"`        // how many items the approval deletes
	TypeCount   bool       `json:"type_count"`   // the person must type count to approve
	DeletesLeft int        `json:"deletes_left"` // permanent deletes left this hour before this one (-1: no cap)
	Destroys    string     `json:"destroys"`     // what each delete loses for good
	Approval    string     `json:"approval"`     // sealed, single use: pass it to app_decide_delete
	IDs         []string   `json:"ids"`          // the planned ids: pass them to app_decide_delete
	ExpiresAt   string     `json:"expires_at"`
	Message     string     `json:"message"`
}

// AppDecideArgs is the person's decision in the view.
type AppDecideArgs struct {
	Approval string   `json:"approval"` // from app_review_delete
	IDs      []string `json:"ids" jsonschema:"minItems=1,maxItems=100"`
	Decision string   `json:"decision" jsonschema:"enum=delete,enum=cancel"` // the button pressed
	Count    int      `json:"count,omitempty"`                               // typed by the person (more than one item)
}
