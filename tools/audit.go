package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/logsafe"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Record is one audit line: what a lifecycle or permanent tool call did, or why it did not.
// It never holds a token; arguments appear only as the resource ID.
type Record struct {
	Time          string  `json:"time"`
	Tool          string  `json:"tool"`
	Tier          string  `json:"tier"`
	Org           string  `json:"org"`
	ResourceType  string  `json:"resource_type"`
	ResourceID    string  `json:"resource_id,omitempty"`
	ResourceName  string  `json:"resource_name,omitempty"`
	Outcome       string  `json:"outcome"` // ok, noop, refused, failed, unknown, confirmation_required, cancelled
	Detail        string  `json:"detail,omitempty"`
	Confirmation  string  `json:"confirmation,omitempty"` // elicitation, token, off
	ConfirmMode   string  `json:"confirm_mode"`
	HTTPStatus    int     `json:"http_status,omitempty"`
	RequestID     string  `json:"tallyfy_request_id,omitempty"`
	DurationMS    float64 `json:"duration_ms"`
	ClientName    string  `json:"client_name,omitempty"`
	ClientVersion string  `json:"client_version,omitempty"`
	Caller        string  `json:"caller,omitempty"`       // the --callers entry or OAuth subject
	TallyfyUser   string  `json:"tallyfy_user,omitempty"` // that caller's Tallyfy user
	Session       string  `json:"session,omitempty"`
	Transport     string  `json:"transport,omitempty"`
}

// Recorder stores audit records. Record must return only once the record is durable.
type Recorder interface {
	Record(ctx context.Context, r Record) error
}

// LogRecorder writes records to the log (stderr) when no audit file is configured.
type LogRecorder struct{ Logger *slog.Logger }

// Record logs r as one "audit" line.
func (l LogRecorder) Record(ctx context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Any("record", auditJSON(b)))
	return nil
}

// auditJSON is a record's JSON in the log: JSON logs embed it as an object, text logs quote it.
// Being a byte slice, it takes the text handlers' quick quoting path (tint's string path scans
// for terminal escapes rune by rune: 17 µs a record); that path quotes with strconv, which
// escapes every non-printable character, so no terminal escape reaches the log raw (tested).
type auditJSON []byte

func (a auditJSON) MarshalJSON() ([]byte, error) { return a, nil }

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

type transportKey struct{}

type transportInfo struct {
	name   string
	canAsk bool
}

// WithTransport marks ctx with the transport's name and whether it can carry a server-to-client
// question (elicitation). The server sets it per request; unmarked contexts (stdio,
// in-process) can.
func WithTransport(ctx context.Context, name string, canAsk bool) context.Context {
	return context.WithValue(ctx, transportKey{}, transportInfo{name: name, canAsk: canAsk})
}

// TransportCanAsk reports whether the request's transport can carry an elicitation.
func TransportCanAsk(ctx context.Context) bool {
	ti, ok := ctx.Value(transportKey{}).(transportInfo)
	return !ok || ti.canAsk
}

func transportName(ctx context.Context) string {
	if ti, ok := ctx.Value(transportKey{}).(transportInfo); ok {
		return ti.name
	}
	return "in-process"
}

func clientInfo(ctx context.Context) (name, version string) {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		return info.ClientInfo.Name, info.ClientInfo.Version
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		ci := s.GetClientInfo()
		return ci.Name, ci.Version
	}
	return "", ""
}

// record builds the audit record of a call as it stands.
func (ts *Toolset) record(ctx context.Context, c *call) Record {
	rec := Record{
		Time: c.started.UTC().Format(time.RFC3339Nano), Tool: c.tool.Name, Tier: string(c.tool.Tier), Org: ts.clientFor(ctx).OrgID(),
		ResourceType: string(c.res.kind), ResourceID: c.id, Outcome: c.outcome, Detail: c.errDetail,
		Confirmation: c.confirm, ConfirmMode: string(ts.opts.Confirm),
		DurationMS: float64(ts.now().Sub(c.started).Microseconds()) / 1000, Session: sessionID(ctx), Transport: transportName(ctx),
	}
	if c.entity != nil {
		rec.ResourceName = c.entity.Name
	}
	rec.ClientName, rec.ClientVersion = clientInfo(ctx)
	if who, ok := CallerFrom(ctx); ok {
		rec.Caller, rec.TallyfyUser = who.Name, who.TallyfyUser
	}
	if c.err != nil {
		var ae *tallyfy.APIError
		var re *tallyfy.ResponseError
		switch {
		case errors.As(c.err, &ae):
			rec.HTTPStatus, rec.RequestID = ae.Status, ae.RequestID
		case errors.As(c.err, &re):
			rec.HTTPStatus, rec.RequestID = re.Status, re.RequestID
		}
		if rec.Detail == "" {
			rec.Detail = clip(describe(c.err), 300)
		}
	}
	return rec
}

// intend writes the intent record of a call about to change something in Tallyfy, and must
// be the last step before the change: if the record cannot be made durable, the call does
// nothing (a full disk must not mean changes nobody can trace). It returns nil when the call
// may act, else its result.
func (ts *Toolset) intend(ctx context.Context, c *call) *mcp.CallToolResult {
	rec := ts.record(ctx, c)
	rec.Outcome, rec.Detail = "intent", string(c.tool.Verb)
	err := ts.audit.Record(context.WithoutCancel(ctx), rec)
	if err == nil {
		return nil
	}
	ts.log.Error("audit intent record not written: the call does nothing", "tool", c.tool.Name, "err", err)
	c.outcome, c.errDetail, c.auditFailed = "refused", "audit intent not written", true
	return mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the audit record that must precede this action could not be written (%v). The operator must fix the audit log (--audit-log) before %s can run; then call it again.",
		err, c.tool.Name))
}

// finish writes the outcome record of a lifecycle or permanent call and returns its result.
// If the record cannot be written the result is withheld and replaced by an error: an action
// the operator cannot see afterwards must not look like a clean success.
func (ts *Toolset) finish(ctx context.Context, c *call, res *mcp.CallToolResult) *mcp.CallToolResult {
	if c.tool.Tier == TierRead {
		return res
	}
	if c.outcome == "" {
		if res.IsError {
			c.outcome = "refused"
		} else {
			c.outcome = "ok"
		}
	}
	if err := ts.audit.Record(context.WithoutCancel(ctx), ts.record(ctx, c)); err != nil {
		ts.log.Error("audit record not written", "tool", c.tool.Name, "err", err)
		if c.auditFailed { // the result already says that nothing was done, and why
			return res
		}
		return mcp.NewToolResultError(fmt.Sprintf("The audit record could not be written (%v); the operator must fix the audit log. Outcome of the call: %s. Check the state with %s before doing anything else.",
			err, c.outcome, toolFor(c.res.kind, VerbGet).Name))
	}
	return res
}

// RecordRefused audits a lifecycle or permanent call refused before any handler ran: input
// validation (e.g. run_id "<id>/delete": the attempt is what an operator most wants to see) or a
// tool the policy hides. Only argument names go into detail, never their values.
func (ts *Toolset) RecordRefused(ctx context.Context, tool, detail string) {
	ts.recordRefused(ctx, tool, "", detail)
}

// RecordRefusedCall audits a lifecycle or permanent call that the server refused before its
// handler ran (e.g. the per-session rate limit), naming the resource when the arguments carry
// a well-formed ID.
func (ts *Toolset) RecordRefusedCall(ctx context.Context, req mcp.CallToolRequest, detail string) {
	t, ok := ByName(req.Params.Name)
	if !ok || t.Tier == TierRead {
		return
	}
	id, _ := req.GetArguments()[resources[t.Kind].idArg].(string)
	if !tallyfy.ValidID(id) {
		id = ""
	}
	ts.recordRefused(ctx, t.Name, id, detail)
}

func (ts *Toolset) recordRefused(ctx context.Context, tool, id, detail string) {
	t, ok := ByName(tool)
	if !ok || t.Tier == TierRead {
		return
	}
	c := &call{tool: t, res: resources[t.Kind], id: id, started: ts.now(), outcome: "refused", errDetail: detail,
		client: ts.clientFor(ctx), policy: ts.policyFor(ctx)}
	ts.finish(ctx, c, mcp.NewToolResultError(detail))
}
