package confirm

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Approval records: every confirmation of a permanent delete (and a person's decline) is
// written to the audit log as a record signed with the server's Ed25519 key, so an auditor can
// check outside the agent who approved which items, when, until when, and through which
// channel (`tallyfy-mcp approvals verify`, auditlog/approvals.go).

// ApprovedItem is one item an approval covers: its id and the fingerprint it was approved at.
type ApprovedItem struct {
	ID string `json:"id"`
	FP string `json:"fp"`
}

// ApprovalRecord is the signed part of an approval's audit line. Its JSON (without Signature)
// is what is signed; encoding/json writes a struct's fields in order, so a verifier that
// decodes and encodes it again gets the same bytes.
type ApprovalRecord struct {
	RequestID string         `json:"request_id"`
	Org       string         `json:"org"`
	Tool      string         `json:"tool"`
	Caller    string         `json:"caller,omitempty"`   // who asked
	Approver  string         `json:"approver,omitempty"` // who confirmed, where known
	Channel   Confirmation   `json:"channel"`
	Items     []ApprovedItem `json:"items"`
	// ArgumentDigest is the SHA-256 of the tool, the ids and their fingerprints.
	ArgumentDigest string `json:"argument_digest"`
	RequestedAt    string `json:"requested_at"`
	DecidedAt      string `json:"decided_at"`
	ExpiresAt      string `json:"expires_at"`
	Outcome        string `json:"outcome"` // approved or declined
	KeyID          string `json:"key_id"`
	Signature      string `json:"signature,omitempty"`
}

// The outcomes of an approval record.
const (
	ApprovalOutcomeApproved = "approved"
	ApprovalOutcomeDeclined = "declined"
)

// KeyID names a public key in records: the first 8 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// argumentDigest binds a record to the tool and the exact items and fingerprints.
func argumentDigest(tool string, items []ApprovedItem) string {
	b, _ := json.Marshal(struct {
		Tool  string         `json:"tool"`
		Items []ApprovedItem `json:"items"`
	}{tool, items})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func signedBytes(r ApprovalRecord) []byte {
	r.Signature = ""
	b, _ := json.Marshal(r)
	return b
}

// Sign fills in the key id, digest and signature.
func (r *ApprovalRecord) Sign(key ed25519.PrivateKey) {
	r.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	r.ArgumentDigest = argumentDigest(r.Tool, r.Items)
	r.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedBytes(*r)))
}

// VerifyApproval checks a record's signature against pub and its digest against its items.
func VerifyApproval(pub ed25519.PublicKey, r ApprovalRecord) error {
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("no valid signature")
	}
	if r.KeyID != KeyID(pub) {
		return fmt.Errorf("signed with another key (key_id %s, this key is %s)", r.KeyID, KeyID(pub))
	}
	if !ed25519.Verify(pub, signedBytes(r), sig) {
		return errors.New("signature does not match: the record was altered")
	}
	if r.ArgumentDigest != argumentDigest(r.Tool, r.Items) {
		return errors.New("argument digest does not match its items")
	}
	return nil
}

// NewApprovalKey makes an Ed25519 key for a process without --approval-key-file.
func NewApprovalKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	return key, err
}

// Stamp is a time as approval records and audit lines write it.
func Stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Approved is the record of sealed claims confirmed by ch (by: who, where known) for items.
// Claims sealed without their issue time (an older replica's plan) leave requested_at empty:
// the record never states a time it does not know.
func Approved(cl Claims, caller, by string, ch Confirmation, items []ApprovedItem, now time.Time) ApprovalRecord {
	var requested string
	if cl.Iat > 0 {
		requested = Stamp(time.Unix(cl.Iat, 0))
	}
	return ApprovalRecord{RequestID: cl.Nonce, Org: cl.Org, Tool: cl.Tool, Caller: caller, Approver: by, Channel: ch, Items: items,
		RequestedAt: requested, DecidedAt: Stamp(now), ExpiresAt: Stamp(time.Unix(cl.Exp, 0)), Outcome: ApprovalOutcomeApproved}
}

// recordOf is the record of a decided pending approval.
func recordOf(pa *PendingApproval) ApprovalRecord {
	items := make([]ApprovedItem, len(pa.Items))
	for i, it := range pa.Items {
		items[i] = ApprovedItem{ID: it.ID, FP: it.FP}
	}
	outcome := ApprovalOutcomeDeclined
	if pa.Status == ApprovalApproved {
		outcome = ApprovalOutcomeApproved
	}
	return ApprovalRecord{RequestID: pa.ID, Org: pa.Org, Tool: pa.Tool, Caller: pa.Requester, Approver: pa.DecidedBy,
		Channel: pa.Channel, Items: items, RequestedAt: Stamp(pa.RequestedAt), DecidedAt: Stamp(pa.DecidedAt),
		ExpiresAt: Stamp(pa.ExpiresAt), Outcome: outcome}
}

// ReadApprovalKey reads --approval-key-file: a PKCS#8 PEM Ed25519 private key.
func ReadApprovalKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--approval-key-file: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("--approval-key-file %s: not a PEM file (make one with: openssl genpkey -algorithm ed25519 -out approval.pem)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("--approval-key-file %s: %v (make one with: openssl genpkey -algorithm ed25519 -out approval.pem)", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("--approval-key-file %s: not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519 -out approval.pem)", path)
	}
	return key, nil
}
