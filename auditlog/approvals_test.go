package auditlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// An approval whose claims carried no issue time (requested_at empty) still covers its delete,
// and one that names a request time after the delete ran does not.
func TestVerifyAuditWithoutARequestTime(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	check := func(requested string) []string {
		t.Helper()
		a := confirm.ApprovalRecord{RequestID: "n1", Tool: "delete_run", Channel: confirm.Elicitation, Items: []confirm.ApprovedItem{{ID: "r1"}},
			RequestedAt: requested, DecidedAt: confirm.Stamp(now), ExpiresAt: confirm.Stamp(now.Add(time.Minute)), Outcome: confirm.ApprovalOutcomeApproved}
		a.Sign(key)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for _, rec := range []audit.Record{
			{Time: confirm.Stamp(now), Tool: "delete_run", Outcome: "approval", Approval: &a},
			{Time: confirm.Stamp(now), Tool: "delete_run", Tier: string(tools.TierPermanent), ResourceType: "run", ResourceID: "r1", Outcome: "ok", Confirmation: confirm.Elicitation, ApprovalID: "n1"},
		} {
			if err := enc.Encode(rec); err != nil {
				t.Fatal(err)
			}
		}
		problems, _, err := VerifyAudit(&b, pub)
		if err != nil {
			t.Fatal(err)
		}
		return problems
	}
	if p := check(""); len(p) != 0 {
		t.Errorf("no request time: %v", p)
	}
	if p := check(confirm.Stamp(now.Add(-time.Second))); len(p) != 0 {
		t.Errorf("requested a second before: %v", p)
	}
	if p := check(confirm.Stamp(now.Add(time.Hour))); len(p) != 1 {
		t.Errorf("requested after the delete ran: %v, want one problem", p)
	}
}
