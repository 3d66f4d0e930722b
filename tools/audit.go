package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
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
	Outcome       string               `json:"outcome"` // ok, noop, refused, failed, unknown, confirmation_required, cancelled; a bulk batch's own record: done or stopped
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

// Recorder stores audit records. Record must return only once the record is durable.
type Recorder interface {
	Record(ctx context.Context, r Record) error
}

// LogRecorder writes records to the log (stderr) when no audit file is configured.
type LogRecorder struct{ Logger *slog.Logger }

// Record logs r as one "audit" line, its fields as a group: key=value pairs in text logs
// (record.tool=archive_run record.outcome=ok …), an object in JSON logs.
func (l LogRecorder) Record(ctx context.Context, r Record) error {
	l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Attr{Key: "record", Value: slog.GroupValue(r.attrs()...)})
	return nil
}

// recordFields are Record's JSON names, in order, and whether each is left out when empty.
var recordFields = func() (out []struct {
	name      string
	omitEmpty bool
}) {
	t := reflect.TypeFor[Record]()
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, struct {
			name      string
			omitEmpty bool
		}{name, opts == "omitempty"})
	}
	return out
}()

// attrs are r's fields as log attributes, named and left out as its JSON is.
func (r Record) attrs() []slog.Attr {
	v := reflect.ValueOf(r)
	out := make([]slog.Attr, 0, len(recordFields))
	for i, f := range recordFields {
		fv := v.Field(i)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		out = append(out, slog.Any(f.name, fv.Interface()))
	}
	return out
}

// FileRecorder appends JSON lines to a file (created 0600) and syncs each before returning.
// Syncs are shared (group commit): a record returns once a sync that began after its write has
// finished, so concurrent calls wait for one fsync together instead of one each.
type FileRecorder struct {
	mu      sync.Mutex // guards f's writes and written
	f       syncFile
	written uint64 // records written so far
	syncMu  sync.Mutex
	synced  uint64 // records known to be on disk
	syncErr error
}

// OpenAuditFile opens (or creates, mode 0600) path for appending.
func OpenAuditFile(path string) (*FileRecorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return newFileRecorder(f), nil
}

// syncFile is what FileRecorder writes to: an *os.File, or in tests one that counts syncs.
type syncFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

func newFileRecorder(f syncFile) *FileRecorder { return &FileRecorder{f: f} }

// Record appends r as one JSON line and returns once it is synced to disk.
func (a *FileRecorder) Record(_ context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = logsafe.EscapeJSON(b) // no bidi or invisible characters raw in the file
	a.mu.Lock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		a.mu.Unlock()
		return err
	}
	a.written++
	mine := a.written
	a.mu.Unlock()

	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if a.synced >= mine { // a sync that started after this write already covered it
		return a.syncErr
	}
	a.mu.Lock()
	upTo := a.written
	a.mu.Unlock()
	a.syncErr = a.f.Sync()
	a.synced = upTo
	return a.syncErr
}

// Close flushes and closes the file.
func (a *FileRecorder) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.f.Sync(); err != nil {
		_ = a.f.Close()
		return err
	}
	return a.f.Close()
}

// auditRecord builds the audit record of a call and its outcome.
func (ts *Toolset) auditRecord(ctx context.Context, c *call, o outcome) Record {
	rec := Record{
		Time: c.started.UTC().Format(time.RFC3339Nano), Tool: c.tool.Name, Tier: string(c.tool.Tier), Org: ts.clientFor(ctx).OrgID(),
		ResourceID: c.id, BatchID: c.batch, Outcome: o.status, Detail: o.detail,
		Confirmation: o.confirm.channel, ConfirmedBy: o.confirm.by, ApprovalID: o.confirm.approvalID, ConfirmMode: string(ts.opts.Confirm),
		DurationMS: float64(ts.now().Sub(c.started).Microseconds()) / 1000, Session: sessionID(ctx), Transport: transportName(ctx),
	}
	if c.res != nil { // a bulk call with an unusable type has none
		rec.ResourceType = string(c.res.kind)
	}
	if o.entity != nil {
		rec.ResourceName = o.entity.Name
	}
	rec.DeletedReferences = o.detached
	rec.ClientName, rec.ClientVersion = clientInfo(ctx)
	if who, ok := CallerFrom(ctx); ok {
		rec.Caller, rec.TallyfyUser = who.Name, who.TallyfyUser
	}
	if o.err != nil {
		var ae *tallyfy.APIError
		var re *tallyfy.ResponseError
		switch {
		case errors.As(o.err, &ae):
			rec.HTTPStatus, rec.RequestID = ae.Status, ae.RequestID
		case errors.As(o.err, &re):
			rec.HTTPStatus, rec.RequestID = re.Status, re.RequestID
		}
		if rec.Detail == "" {
			rec.Detail = clip(describe(o.err), 300)
		}
	}
	return rec
}
