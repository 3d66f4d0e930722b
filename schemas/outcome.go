package schemas

// Outcome is what a tool call came to: a result's status (a delete's, a bulk call's and each
// of its items') and the outcome its audit record names (tools/audit) use the same words.
type Outcome string

// The outcomes of tool calls.
const (
	OK                   Outcome = "ok"      // it did what was asked
	Noop                 Outcome = "noop"    // it was so already: nothing to do
	Refused              Outcome = "refused" // nothing was done: the server or Tallyfy refused
	Failed               Outcome = "failed"  // Tallyfy failed: nothing was done
	Unknown              Outcome = "unknown" // whether it took effect could not be told
	Cancelled            Outcome = "cancelled"
	ConfirmationRequired Outcome = "confirmation_required" // the person must confirm first
	ApprovalPending      Outcome = "approval_pending"      // waiting for the person's approval
	Planned              Outcome = "planned"               // a bulk plan: nothing done yet
	// Done and Stopped end a bulk batch's own record.
	Done    Outcome = "done"
	Stopped Outcome = "stopped"
	// Audit records only: the intent written just before a change, and a person's decision
	// (with its signed approval record).
	Intent   Outcome = "intent"
	Approval Outcome = "approval"
	// Results only: a permanent delete's status, and a bulk item's when it was not acted on.
	Deleted Outcome = "deleted"
	Skipped Outcome = "skipped"
	NotRun  Outcome = "not_run"
)
