package confirm

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// TestDecideOnceByWhoMay: under the two-person rule only a named approver other than the
// requester decides, only on the channel the approval waits on, only once and before it
// expires; the signed record is written first and verifies, and an altered one does not.
func TestDecideOnceByWhoMay(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	a := Approvals{Store: state.NewMemory(), Now: func() time.Time { return now }}
	key, err := NewApprovalKey()
	if err != nil {
		t.Fatal(err)
	}
	var written []ApprovalRecord
	record := func(_ context.Context, r ApprovalRecord) error {
		r.Sign(key)
		written = append(written, r)
		return nil
	}
	pa := &PendingApproval{ID: NewNonce(), Org: "o", Tool: "delete_run", Items: []ApprovalItem{{ID: "a", FP: "f"}}, Requester: "alice",
		Approvers: []string{"bob"}, TwoPerson: true, Channel: ApprovalPage, Status: ApprovalPending, RequestedAt: now,
		ExpiresAt: now.Add(time.Minute), RequestKey: RequestKey("o", "delete_run", "a", "c", "")}
	if err := a.Park(ctx, pa); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    ApprovalDecision
		want error
	}{
		{ApprovalDecision{Approve: true, Channel: ApprovalPage, Approver: "alice"}, ErrSelfApproval},
		{ApprovalDecision{Approve: true, Channel: ApprovalPage, Approver: "carol"}, ErrNotAnApprover},
		{ApprovalDecision{Approve: true, Channel: App, Approver: "bob"}, ErrWrongChannel},
		{ApprovalDecision{Approve: true, Channel: ApprovalPage, Approver: "bob"}, nil},
		{ApprovalDecision{Approve: false, Channel: ApprovalPage, Approver: "bob"}, ErrApprovalDecided},
	} {
		if _, err := a.Decide(ctx, pa.ID, tc.d, record); !errors.Is(err, tc.want) {
			t.Fatalf("%+v: %v, want %v", tc.d, err, tc.want)
		}
	}
	got, err := a.For(ctx, pa.RequestKey)
	if err != nil || got == nil || got.Status != ApprovalApproved || got.DecidedBy != "bob" {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if len(written) != 1 || written[0].Outcome != ApprovalOutcomeApproved || written[0].Approver != "bob" {
		t.Fatalf("records %+v", written)
	}
	pub := key.Public().(ed25519.PublicKey)
	if err := VerifyApproval(pub, written[0]); err != nil {
		t.Fatalf("the record does not verify: %v", err)
	}
	altered := written[0]
	altered.Approver = "mallory"
	if VerifyApproval(pub, altered) == nil {
		t.Fatal("an altered record verified")
	}

	late := &PendingApproval{ID: NewNonce(), Requester: "alice", Channel: App, Status: ApprovalPending, ExpiresAt: now}
	if err := a.Park(ctx, late); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decide(ctx, late.ID, ApprovalDecision{Approve: true, Channel: App, Approver: "alice"}, record); !errors.Is(err, ErrApprovalExpired) {
		t.Fatalf("an expired approval was decided: %v", err)
	}
}

// A record of claims sealed without their issue time says no request time, rather than 1970.
func TestApprovedStatesOnlyAKnownRequestTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	if r := Approved(Claims{Exp: now.Unix() + 60}, "", "", Token, nil, now); r.RequestedAt != "" {
		t.Errorf("no issue time: requested_at %q, want empty", r.RequestedAt)
	}
	if r := Approved(Claims{Iat: now.Unix() - 5, Exp: now.Unix() + 60}, "", "", Token, nil, now); r.RequestedAt != Stamp(now.Add(-5*time.Second)) {
		t.Errorf("requested_at %q", r.RequestedAt)
	}
}
