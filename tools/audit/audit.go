// Package audit is the audit record of a tool call and the writers that make it durable: an
// append-only JSON-lines file (--audit-log), or the log when there is none. What a record says
// is decided by the tools' pipeline (tools/pipeline.go), which is its only writer.
package audit

import (
	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Record is one audit line: what a lifecycle or permanent tool call did, or why it did not.
// It never holds a token; arguments appear only as the resource ID.
type Record struct {
	Time          string               `json:"time"`
	Tool          string               `json:"tool"`
	Tier          string               `json:"tier"`
	Org           string               `json:"org"`
	ResourceType  string               `json:"resource_type"`
	ResourceID    string               `json:"resource_id,omitempty"`
	ResourceName  string               `json:"resource_name,omitempty"`
	Outcome       schemas.Outcome      `json:"outcome"`
	Detail        string               `json:"detail,omitempty"`
	Confirmation  confirm.Confirmation `json:"confirmation,omitempty"` // app, elicitation, approval_page, token, off
	ConfirmedBy   string               `json:"confirmed_by,omitempty"` // who confirmed, where known
	ConfirmMode   string               `json:"confirm_mode"`
	HTTPStatus    int                  `json:"http_status,omitempty"`
	RequestID     string               `json:"tallyfy_request_id,omitempty"`
	DurationMS    float64              `json:"duration_ms"`
	ClientName    string               `json:"client_name,omitempty"`
	ClientVersion string               `json:"client_version,omitempty"`
	Caller        string               `json:"caller,omitempty"`       // the --callers entry or OAuth subject
	TallyfyUser   string               `json:"tallyfy_user,omitempty"` // that caller's Tallyfy user
	Session       string               `json:"session,omitempty"`
	Transport     string               `json:"transport,omitempty"`
	BatchID       string               `json:"batch_id,omitempty"` // the bulk call an item (or the batch record) belongs to
	// DeletedReferences: what archiving a template detached (Tallyfy's deleted_references).
	DeletedReferences []tallyfy.Reference `json:"deleted_references,omitempty"`
	// ApprovalID names the approval behind a permanent delete; Approval is the signed
	// approval record itself, on the "approval" line written when it was given or declined.
	ApprovalID string                  `json:"approval_id,omitempty"`
	Approval   *confirm.ApprovalRecord `json:"approval,omitempty"`
}
