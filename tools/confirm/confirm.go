// Package confirm is what confirming a permanent delete needs without the tools it confirms:
// how a delete was confirmed (Confirmation), sealed single-use tokens and handles (Sealer),
// a delete parked for a person's decision (PendingApproval, Approvals), and the signed
// approval records an auditor checks (ApprovalRecord). The tools package picks the channel and
// asks the person; this package never imports it.
package confirm

// Confirmation names how a permanent delete was really confirmed, strongest first (issue 21,
// README "Confirming what cannot be undone"). The audit record and the result carry it, so a
// reader can tell a person's click from a model calling twice.
type Confirmation string

const (
	// App means the person pressed Delete in the MCP App view, through an app-only tool the
	// host never offers the model.
	App Confirmation = "app"
	// Elicitation means the client asked the person (form elicitation); proves the client answered.
	Elicitation Confirmation = "elicitation"
	// ApprovalPage means the person approved on the server's approval page.
	ApprovalPage Confirmation = "approval_page"
	// Token means the model called twice with a confirm_token; the person may not have seen it.
	Token Confirmation = "token"
	// Off means confirmation is switched off (--confirm off), for unattended pipelines.
	Off Confirmation = "off"
)

// Place is where a person decides on a pending approval, for messages.
func (c Confirmation) Place() string {
	if c == App {
		return "App view"
	}
	return "approval page"
}
