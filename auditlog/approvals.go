package auditlog

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Approvals is `tallyfy-mcp approvals`: pubkey prints the public key approval records are
// signed with; verify checks an audit log (issue 21 point 6). Exit 0 when all is well, 1 when
// verify found a problem, 2 on bad usage.
func Approvals(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// fail says why on stderr (the usage too when usage is set) and returns 2, bad usage.
	fail := func(usage bool, why ...any) int {
		if len(why) > 0 {
			_, _ = fmt.Fprintln(stderr, why...)
		}
		if usage {
			_, _ = fmt.Fprint(stderr, `Usage:
  tallyfy-mcp approvals pubkey --approval-key-file FILE
      print the public key (base64) that approval records are signed with
  tallyfy-mcp approvals verify (--approval-key-file FILE | --pubkey BASE64) AUDIT.jsonl
      check every approval record's signature, and that every executed permanent delete
      has a matching, unexpired approval; print any that do not (exit 1)
`)
		}
		return 2
	}
	if len(args) == 0 {
		return fail(true)
	}
	fs := flag.NewFlagSet("approvals "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keyFile := fs.String("approval-key-file", getenv("TALLYFY_APPROVAL_KEY_FILE"), "")
	pubText := fs.String("pubkey", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return fail(true, "tallyfy-mcp approvals:", err)
	}
	var pub ed25519.PublicKey
	switch {
	case *pubText != "":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*pubText))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fail(false, "tallyfy-mcp approvals: --pubkey must be the base64 Ed25519 public key that `approvals pubkey` prints")
		}
		pub = b
	case *keyFile != "":
		key, err := confirm.ReadApprovalKey(*keyFile)
		if err != nil {
			return fail(false, "tallyfy-mcp approvals:", err)
		}
		pub = key.Public().(ed25519.PublicKey)
	default:
		return fail(false, "tallyfy-mcp approvals: give --approval-key-file (or TALLYFY_APPROVAL_KEY_FILE) or --pubkey")
	}
	switch {
	case args[0] == "pubkey":
		_, _ = fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(pub))
		return 0
	case args[0] != "verify" || fs.NArg() != 1:
		return fail(true)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fail(false, "tallyfy-mcp approvals verify:", err)
	}
	defer func() { _ = f.Close() }()
	problems, summary, err := VerifyAudit(f, pub)
	if err != nil {
		return fail(false, "tallyfy-mcp approvals verify:", err)
	}
	for _, p := range problems {
		_, _ = fmt.Fprintln(stdout, p)
	}
	_, _ = fmt.Fprintln(stdout, summary)
	if len(problems) > 0 {
		return 1
	}
	return 0
}

// VerifyAudit reads an audit log (JSON lines) and returns one line per problem: an approval
// record whose signature or digest does not check, or an executed permanent delete with no
// matching, unexpired approval (signed, approved, naming the item, the delete within its
// time).
func VerifyAudit(r io.Reader, pub ed25519.PublicKey) (problems []string, summary string, err error) {
	type deleted struct {
		line int
		rec  audit.Record
	}
	approvals := map[string]confirm.ApprovalRecord{}
	var deletes []deleted
	signed := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec audit.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			problems = append(problems, fmt.Sprintf("line %d: not an audit record: %v", n, err))
			continue
		}
		switch {
		case rec.Approval != nil:
			signed++
			if err := confirm.VerifyApproval(pub, *rec.Approval); err != nil {
				problems = append(problems, fmt.Sprintf("line %d: approval %s: %v", n, rec.Approval.RequestID, err))
				continue
			}
			if rec.Approval.Outcome == confirm.ApprovalOutcomeApproved {
				approvals[rec.Approval.RequestID] = *rec.Approval
			}
		case rec.Outcome == "ok" && rec.Tier == string(tools.TierPermanent) && rec.ResourceID != "":
			deletes = append(deletes, deleted{n, rec})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", err
	}
	for _, d := range deletes {
		if why := unapproved(d.rec, approvals); why != "" {
			problems = append(problems, fmt.Sprintf("line %d: %s of %s %s: %s", d.line, d.rec.Tool, d.rec.ResourceType, d.rec.ResourceID, why))
		}
	}
	summary = fmt.Sprintf("%d signed approval records, %d executed permanent deletes, %d problems", signed, len(deletes), len(problems))
	return problems, summary, nil
}

// unapproved says why an executed delete has no matching approval ("" when it has one).
func unapproved(rec audit.Record, approvals map[string]confirm.ApprovalRecord) string {
	if rec.Confirmation == confirm.Off {
		return "no approval: confirmation was off (--confirm off)"
	}
	if rec.ApprovalID == "" {
		return "no approval named"
	}
	a, ok := approvals[rec.ApprovalID]
	if !ok {
		return fmt.Sprintf("approval %s is missing, was declined, or did not verify", rec.ApprovalID)
	}
	if !slices.ContainsFunc(a.Items, func(it confirm.ApprovedItem) bool { return it.ID == rec.ResourceID }) {
		return fmt.Sprintf("approval %s does not cover this item", rec.ApprovalID)
	}
	if a.Channel != rec.Confirmation {
		return fmt.Sprintf("approval %s was given through %s, the delete says %s", rec.ApprovalID, a.Channel, rec.Confirmation)
	}
	at, err1 := time.Parse(time.RFC3339Nano, rec.Time)
	exp, err2 := time.Parse(time.RFC3339Nano, a.ExpiresAt)
	req, err3 := time.Time{}, error(nil) // no request time (claims sealed without one): nothing to compare
	if a.RequestedAt != "" {
		req, err3 = time.Parse(time.RFC3339Nano, a.RequestedAt)
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return "unreadable times: " + err.Error()
	}
	// The record's time is when its call started; token and elicitation calls start a moment
	// before they are approved, so the call must begin inside [request - 1s, expiry).
	if !at.Before(exp) {
		return fmt.Sprintf("approval %s had expired (%s) when the delete ran (%s)", rec.ApprovalID, a.ExpiresAt, rec.Time)
	}
	if at.Before(req.Add(-time.Second)) {
		return fmt.Sprintf("the delete (%s) ran before approval %s was asked for (%s)", rec.Time, rec.ApprovalID, a.RequestedAt)
	}
	return ""
}
