package confirm

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// A pending approval: a permanent delete (single, or a bulk plan) parked in the state store
// until a person decides on it outside the model's reach, on the approval page
// (server/approvalpage) or in the MCP App view. Replicas share the store, so the person may decide
// on any replica and the agent's next call, on any replica, sees the decision.
//
// The life of one: the delete call parks it (ApprovalPending) and answers approval_pending; a
// person decides once (Approvals.Decide: approved or declined, by a channel and an approver);
// the agent's next call with the same arguments (or plan_token) finds it through its request
// key and deletes, once, after the usual re-read and fingerprint check, or reports the refusal.

// ApprovalStatus is where a pending approval stands.
type ApprovalStatus string

// The states of a pending approval.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDeclined ApprovalStatus = "declined"
)

// ApprovalItem is one item of a pending approval, as the person is shown it.
type ApprovalItem struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	State       string `json:"state"`
	LastUpdated string `json:"last_updated,omitempty"`
	// FP binds the approval to the item as shown: Fingerprint for a single delete, ItemFP
	// for an item of a bulk plan.
	FP string `json:"fp"`
}

// PendingApproval is a permanent delete waiting for (or given) a person's decision.
type PendingApproval struct {
	ID string `json:"id"` // names it in results and in /approve/{id}; not a secret
	// SecretHash is the SHA-256 of the one-time secret in the local page's link (stdio): the
	// link alone lets the person at the machine in, so only its hash is stored.
	SecretHash string       `json:"secret_hash,omitempty"`
	Org        string       `json:"org"`
	Tool       string       `json:"tool"`
	Kind       tallyfy.Kind `json:"kind"`
	Noun       string       `json:"noun"`     // "process", or its plural for several
	Destroys   string       `json:"destroys"` // what is lost for good, per item
	Items      []ApprovalItem
	// DeletesLeft is the hour's delete budget before this delete (-1: no cap).
	DeletesLeft int `json:"deletes_left"`
	// Requester is who asked (callers-file name, OAuth subject, or the local OS user on
	// stdio); RequesterBinding is the caller binding, which the asking call must present again.
	Requester        string `json:"requester"`
	RequesterBinding string `json:"requester_binding"`
	// Approvers: under the two-person rule, who may approve (never the requester). Empty: the
	// requester approves their own request.
	Approvers []string `json:"approvers,omitempty"`
	TwoPerson bool     `json:"two_person,omitempty"`
	// Channel is where the person decides (approval_page, or app for the MCP App view).
	Channel     Confirmation   `json:"channel"`
	Status      ApprovalStatus `json:"status"`
	DecidedBy   string         `json:"decided_by,omitempty"`
	RequestedAt time.Time      `json:"requested_at"`
	ExpiresAt   time.Time      `json:"expires_at"`
	DecidedAt   time.Time      `json:"decided_at,omitzero"`
	RequestKey  string         `json:"request_key"`
	// InCall: the call that asked waits for the decision (URL-mode elicitation), so it acts
	// at once; otherwise the agent acts when it calls again.
	InCall bool `json:"in_call,omitempty"`
}

// Count is how many items the person must confirm (they type it for more than one).
func (pa *PendingApproval) Count() int { return len(pa.Items) }

// Expired reports whether the approval can no longer be decided or used.
func (pa *PendingApproval) Expired(now time.Time) bool { return !now.Before(pa.ExpiresAt) }

// DeclinedBy says who declined, and where, for the result.
func (pa *PendingApproval) DeclinedBy() string {
	if pa.DecidedBy != "" {
		return fmt.Sprintf("%s declined on the %s", pa.DecidedBy, pa.Channel.Place())
	}
	return "The person declined on the " + pa.Channel.Place()
}

// WhoDecides says who must approve, for the result.
func (pa *PendingApproval) WhoDecides() string {
	if pa.TwoPerson {
		return fmt.Sprintf("a second person (one of: %s; not %s)", strings.Join(pa.Approvers, ", "), pa.Requester)
	}
	return "the person"
}

// Why a decision on a pending approval is refused. The page shows them to the person.
var (
	ErrApprovalNotFound = errors.New("there is no such approval request (or it is long gone)")
	ErrApprovalExpired  = errors.New("this approval request has expired; the agent must ask again")
	ErrApprovalDecided  = errors.New("this approval request was already decided; each link works once")
	ErrSelfApproval     = errors.New("under the two-person rule someone other than the requester must approve: self-approval is refused")
	ErrNotAnApprover    = errors.New("you may not decide on this request: only the person who asked, or an approver named for them, may")
	ErrWrongChannel     = errors.New("this request is decided elsewhere")
)

// ApprovalDecision is a person's answer to a pending approval.
type ApprovalDecision struct {
	Approve  bool
	Channel  Confirmation // where they decided: approval_page or app
	Approver string       // who they proved to be there (login name, OAuth subject, local OS user)
}

// mayDecide says whether approver may decide on pa (the two-person rule, or the requester).
func mayDecide(pa *PendingApproval, approver string) error {
	switch {
	case approver == "":
		return ErrNotAnApprover
	case pa.TwoPerson && approver == pa.Requester:
		return ErrSelfApproval
	case pa.TwoPerson && !slices.Contains(pa.Approvers, approver), !pa.TwoPerson && approver != pa.Requester:
		return ErrNotAnApprover
	}
	return nil
}

// CheckApprovalSecret reports whether secret is the one-time secret of pa's local link,
// compared in constant time.
func CheckApprovalSecret(pa *PendingApproval, secret string) bool {
	if pa.SecretHash == "" || secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(pa.SecretHash)) == 1
}

// NewApprovalSecret is the one-time secret of a local page link (32 random bytes) and its hash.
func NewApprovalSecret() (secret, hash string) {
	secret = RandomHex(32)
	sum := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(sum[:])
}

// RequestKey names the call a pending approval belongs to: the same caller (binding) in the
// same session asking the same tool about the same item (or plan) again finds it.
func RequestKey(org, tool, what, caller, session string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{org, tool, what, caller, session}, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// Approvals keeps pending approvals in the state store, shared by every replica using it.
type Approvals struct {
	Store state.Store
	Now   func() time.Time
}

// approvalUseTTL is how long an approval's single use is remembered.
const approvalUseTTL = 24 * time.Hour

func approvalKey(id string) string { return "approval:" + id }

func approvalRequestKey(key string) string { return "approval-request:" + key }

// Get returns a pending approval by its id.
func (a Approvals) Get(ctx context.Context, id string) (*PendingApproval, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrApprovalNotFound
	}
	b, err := a.Store.Get(ctx, approvalKey(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrApprovalNotFound
	}
	var pa PendingApproval
	if err := json.Unmarshal(b, &pa); err != nil {
		return nil, fmt.Errorf("approval %s unreadable: %w", id, err)
	}
	return &pa, nil
}

// save stores pa, kept a while past its expiry so a late call can be told it expired.
func (a Approvals) save(ctx context.Context, pa *PendingApproval) error {
	b, err := json.Marshal(pa)
	if err != nil {
		return err
	}
	return a.Store.Put(ctx, approvalKey(pa.ID), b, pa.ExpiresAt.Sub(a.Now())+time.Hour)
}

// Park stores a new pending approval and points its request key at it.
func (a Approvals) Park(ctx context.Context, pa *PendingApproval) error {
	if err := a.save(ctx, pa); err != nil {
		return err
	}
	return a.Store.Put(ctx, approvalRequestKey(pa.RequestKey), []byte(pa.ID), pa.ExpiresAt.Sub(a.Now())+time.Hour)
}

// For returns the pending approval of a request key, if any.
func (a Approvals) For(ctx context.Context, key string) (*PendingApproval, error) {
	id, err := a.Store.Get(ctx, approvalRequestKey(key))
	if err != nil || id == nil {
		return nil, err
	}
	pa, err := a.Get(ctx, string(id))
	if errors.Is(err, ErrApprovalNotFound) {
		return nil, nil
	}
	return pa, err
}

// Forget unlinks a request key from its approval, so the next call asks afresh.
func (a Approvals) Forget(ctx context.Context, key string) {
	_ = a.Store.Put(ctx, approvalRequestKey(key), nil, time.Millisecond)
}

// Use marks an approved pa used by its delete, once: false if it was used before.
func (a Approvals) Use(ctx context.Context, pa *PendingApproval) (bool, error) {
	return a.Store.UseOnce(ctx, "approval-used:"+pa.ID, approvalUseTTL)
}

// Decide records a person's decision on a pending approval, once: it checks that the
// approval is still open, that the channel is the one it waits on, and that the approver may
// decide (mayDecide); then record writes the signed approval record and the decision is
// stored. The App (channel app) and the approval page (approval_page) both decide through here.
func (a Approvals) Decide(ctx context.Context, id string, d ApprovalDecision, record func(context.Context, ApprovalRecord) error) (*PendingApproval, error) {
	pa, err := a.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case pa.Status != ApprovalPending:
		return pa, ErrApprovalDecided
	case pa.Expired(a.Now()):
		return pa, ErrApprovalExpired
	case d.Channel != pa.Channel:
		return pa, ErrWrongChannel
	}
	if err := mayDecide(pa, d.Approver); err != nil {
		return pa, err
	}
	status := ApprovalDeclined
	if d.Approve {
		status = ApprovalApproved
	}
	first, err := a.close(ctx, pa, status, d.Approver, pa.Channel, record)
	if err == nil && !first {
		err = ErrApprovalDecided
	}
	return pa, err
}

// Withdraw closes a pending approval the person refused through their client (they did not
// open the page): declined by them, through elicitation, which its signed record says; the
// page then shows it decided. Already decided: nothing happens.
func (a Approvals) Withdraw(ctx context.Context, pa *PendingApproval, by string, record func(context.Context, ApprovalRecord) error) error {
	_, err := a.close(ctx, pa, ApprovalDeclined, by, Elicitation, record)
	return err
}

// close decides pa once (first false: it was decided before): record writes its signed
// record, through channel ch, before the decision is stored, since a decision nobody can
// check later must not take effect.
func (a Approvals) close(ctx context.Context, pa *PendingApproval, status ApprovalStatus, by string, ch Confirmation, record func(context.Context, ApprovalRecord) error) (first bool, err error) {
	now := a.Now()
	first, err = a.Store.UseOnce(ctx, "approval-decided:"+pa.ID, pa.ExpiresAt.Sub(now)+time.Hour)
	if err != nil || !first {
		return first, err
	}
	pa.Status, pa.DecidedBy, pa.DecidedAt = status, by, now
	rec := recordOf(pa)
	rec.Channel = ch
	if err := record(ctx, rec); err != nil {
		return true, err
	}
	return true, a.save(ctx, pa)
}
