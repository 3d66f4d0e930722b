package tools

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// Every tool call runs the same stages, in this order, each once: the judge (the arguments
// against the input schema, the rate limit: judge.go), policy, arguments, guards
// (protect list, delete budget), resolve (Lookup and the process-task refusal, for the tools
// that change something), the verb, and record. Stages before the verb may end the call with
// an outcome; the verb always returns one; record writes the call's single outcome record.
// The verb never writes the audit: the one record it needs before acting, the intent, comes
// from call.intend, which the pipeline supplies.
//
// A bulk tool reuses this per item: for each item it builds a call (newCall with the item's
// ID), runs guards, resolve and the verb (runBulkItem), and records each outcome with its
// batch; only policy and argument decoding are per batch.

// call is what one tool call knows before its verb runs. It is set up by the stages before the
// verb and read, never changed, afterwards.
type call struct {
	client  *tallyfy.Client // the caller's own, or the server's
	policy  Policy          // the server's, narrowed by the caller's cap
	caller  string          // the caller's name ("" without a callers entry or OAuth subject)
	tool    Tool
	kind    *itemKind // the kind of item the call is about (nil: a bulk call before its type is checked)
	req     mcp.CallToolRequest
	started time.Time
	id      string          // the resource ID argument, once checked
	target  *tallyfy.Entity // the item as resolved (lifecycle and delete)
	batch   string          // the bulk call this item belongs to ("" for a single call)
	// atOnce lets resolve skip the read of a change whose answer settles the result
	// (archive_run: lifecycle.go); c.target then stays nil. Single calls set it; a caller that
	// needs the item read first (a bulk item checked against its plan) leaves it false.
	atOnce bool
	// intend writes the intent record just before the verb changes something in Tallyfy.
	// ok false: the record could not be made durable, so the verb must do nothing and return
	// the outcome given.
	intend func(ctx context.Context, confirm confirmation, e tallyfy.Entity) (refused outcome, ok bool)
}

// Record is an audit line (tools/audit), by the name the black-box tests read it with.
type Record = audit.Record

// outcome is what a call came to: the agent's result and what the audit record says of it.
type outcome struct {
	result  *mcp.CallToolResult
	status  schemas.Outcome
	detail  string       // why it was refused or cancelled
	err     error        // the Tallyfy error behind it, if any
	confirm confirmation // how a permanent delete was confirmed (channel.go)
	entity  *tallyfy.Entity
	// auditFailed: the intent record could not be written, so nothing was done and the
	// result says so.
	auditFailed bool
	// detached is what Tallyfy said the change detached (archive_template's deleted_references).
	detached []tallyfy.Reference
}

func succeeded(res *mcp.CallToolResult) outcome { return outcome{result: res, status: schemas.OK} }

// refused is a refusal: nothing was done.
func refused(detail string, res *mcp.CallToolResult) outcome {
	return outcome{result: res, status: schemas.Refused, detail: detail}
}

// ended is an outcome with an explicit status (noop, cancelled, unknown, failed, ...).
func ended(status schemas.Outcome, detail string, res *mcp.CallToolResult) outcome {
	return outcome{result: res, status: status, detail: detail}
}

// failed turns an error from Tallyfy into an outcome that tells the agent what to do next.
func failed(c *call, err error) outcome {
	return outcome{result: mcp.NewToolResultError(explain(c, err)), status: schemas.Failed, err: err}
}

func (o outcome) about(e tallyfy.Entity) outcome { o.entity = &e; return o }

// orAbout is about(e) unless the outcome names its item already (as read again).
func (o outcome) orAbout(e tallyfy.Entity) outcome {
	if o.entity == nil {
		o.entity = &e
	}
	return o
}

// confirmedBy names the channel a permanent delete was (or was to be) confirmed through.
func (o outcome) confirmedBy(ch confirm.Confirmation) outcome { o.confirm.channel = ch; return o }

// confirmedWith carries the whole confirmation: channel, who, and the approval behind it.
func (o outcome) confirmedWith(conf confirmation) outcome { o.confirm = conf; return o }

// orConfirmedWith is confirmedWith(conf) unless the outcome names its channel already.
func (o outcome) orConfirmedWith(conf confirmation) outcome {
	if o.confirm.channel == "" {
		o.confirm = conf
	}
	return o
}

func (o outcome) because(err error) outcome { o.err = err; return o }

// verbs maps each verb to its stage: what the tool does once the call is set up.
var verbs = map[Verb]func(ts *Toolset, ctx context.Context, c *call) outcome{
	VerbGet:     (*Toolset).get,
	VerbList:    (*Toolset).list,
	VerbArchive: (*Toolset).lifecycle,
	VerbRestore: (*Toolset).lifecycle,
	VerbDelete:  (*Toolset).delete,
}

// handler is the one handler of every tool: the judge (judge.go), then the tool's stages.
func (ts *Toolset) handler(t Tool) server.ToolHandlerFunc {
	run := ts.stages(t)
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res, refused := ts.judge(ctx, t, req); refused {
			return res, nil
		}
		return run(ctx, req)
	}
}

// stages runs a judged call's stages and records the outcome.
func (ts *Toolset) stages(t Tool) server.ToolHandlerFunc {
	switch {
	case t.Name == appReviewTool:
		return ts.appReview
	case t.AppOnly:
		return ts.appDecide
	case t.Bulk:
		// A bulk tool's items run through runBulkItem from bulkHandler, never through the
		// single-item path (which needs a kind).
		return ts.bulkHandler(t)
	}
	verb, ok := verbs[t.Verb]
	if !ok {
		panic("tools: no handler for verb " + t.Verb)
	}
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c := ts.newCall(ctx, t, req)
		if o, ended := ts.prepare(ctx, c); ended {
			return ts.record(ctx, c, o), nil
		}
		if t.Tier != TierRead {
			c.atOnce = true
			if o, ended := ts.resolve(ctx, c); ended {
				return ts.record(ctx, c, o), nil
			}
		}
		return ts.record(ctx, c, verb(ts, ctx, c)), nil
	}
}

// newCall starts a call of tool t for the caller in ctx.
func (ts *Toolset) newCall(ctx context.Context, t Tool, req mcp.CallToolRequest) *call {
	c := &call{tool: t, kind: itemKinds[t.Kind], req: req, started: ts.opts.Now(), client: ts.clientFor(ctx), policy: ts.policyFor(ctx)}
	if who, ok := CallerFrom(ctx); ok {
		c.caller = who.Name
	}
	c.intend = func(ctx context.Context, confirm confirmation, e tallyfy.Entity) (outcome, bool) {
		return ts.intent(ctx, c, confirm, e)
	}
	return c
}

// prepare runs the per-call stages: policy and arguments. ended: the outcome o ends the call.
func (ts *Toolset) prepare(ctx context.Context, c *call) (o outcome, ended bool) {
	t := c.tool
	// policy
	if !ts.opts.Policy.Allows(t) {
		return refused("", policyRefusal(t, ts.opts.Policy)), true
	}
	if !c.policy.Allows(t) {
		return refused("", capRefusal(ctx, t)), true
	}
	if t.Verb == VerbList || t.Bulk {
		return outcome{}, false // their arguments are their own (list and bulk decode them)
	}
	// arguments
	id, bad := idArg(c.req, c.kind)
	if bad != nil {
		return refused("", bad), true
	}
	c.id = id
	return outcome{}, false
}

// resolve runs the guards and reads the item a lifecycle or permanent call is about. ended:
// the outcome o ends the call.
func (ts *Toolset) resolve(ctx context.Context, c *call) (o outcome, ended bool) {
	t := c.tool
	// the caller's role: what Tallyfy refuses them is refused before any read or question
	if o, bad := ts.roleRefusal(ctx, c); bad {
		return o, true
	}
	// guards: the protect list (archive, delete) and the delete budget, checked without
	// spending, so a spent budget refuses before the person is asked to confirm
	if t.Verb == VerbArchive || t.Verb == VerbDelete {
		if o, bad := ts.protectedRefusal(c); bad {
			return o, true
		}
	}
	if t.Verb == VerbDelete && c.batch == "" { // a batch reserved its slots beforehand
		refusal, err := ts.opts.Budget.Check(context.WithoutCancel(ctx), ts.opts.Now())
		if o, bad := ts.budgetAnswer(refusal, err); bad {
			return o, true
		}
	}
	// resolve. A single archive_run goes out at once, with c.target nil: its answer is the run,
	// which settles the result, and its checks need no read (the protect list is by ID).
	// Anything else is read first, then changed (lifecycle.go).
	if c.atOnce && answerSettles(c) {
		return outcome{}, false
	}
	e, err := c.client.Lookup(ctx, c.kind.Kind, c.id)
	if err != nil {
		return failed(c, err), true
	}
	c.target = &e
	return processTaskRefusal(ctx, c.client, e)
}

// record is the last stage: it writes the outcome record of a lifecycle or permanent call
// (read calls have none) and returns the result. If the record cannot be written the result is
// withheld and replaced by an error: an action the operator cannot see afterwards must not
// look like a clean success.
func (ts *Toolset) record(ctx context.Context, c *call, o outcome) *mcp.CallToolResult {
	if c.tool.Tier == TierRead {
		return o.result
	}
	if o.status == "" {
		o.status = schemas.OK
		if o.result.IsError {
			o.status = schemas.Refused
		}
	}
	if o.entity == nil {
		o.entity = c.target
	}
	if err := ts.write(ctx, ts.auditRecord(ctx, c, o)); err != nil {
		ts.opts.Logger.Error("audit record not written", "tool", c.tool.Name, "err", err)
		if o.auditFailed { // the result already says that nothing was done, and why
			return o.result
		}
		check := "the get tools"
		if c.kind != nil {
			check = toolFor(c.kind.Kind, VerbGet).Name
		}
		return mcp.NewToolResultError(fmt.Sprintf("The audit record could not be written (%v); the operator must fix the audit log. Outcome of the call: %s. Check the state with %s before doing anything else.",
			err, o.status, check))
	}
	return o.result
}

// write is the one call of the audit recorder: a call's outcome record (record), the intent
// before a change (intent) and a person's signed approval (recordApproval). A record is
// written even when the call's context ends.
func (ts *Toolset) write(ctx context.Context, rec audit.Record) error {
	return ts.opts.Audit.Record(context.WithoutCancel(ctx), rec)
}

// RecordHidden audits a call of a tool the server's policy hides (a lifecycle or permanent
// one: the attempt is what an operator most wants to see). The MCP library refuses it ("tool
// not found", a JSON-RPC error) before any handler runs, so its error hook brings it here.
func (ts *Toolset) RecordHidden(ctx context.Context, name string) {
	if t, ok := ByName(name); ok {
		ts.record(ctx, ts.newCall(ctx, t, mcp.CallToolRequest{}), refused("not available under the server's policy", nil))
	}
}

// intent writes the intent record of a call about to change something in Tallyfy, and must
// be the last step before the change: if the record cannot be made durable, the call does
// nothing (a full disk must not mean changes nobody can trace).
func (ts *Toolset) intent(ctx context.Context, c *call, confirm confirmation, e tallyfy.Entity) (outcome, bool) {
	rec := ts.auditRecord(ctx, c, outcome{status: schemas.Intent, detail: string(c.tool.Verb), confirm: confirm, entity: &e})
	err := ts.write(ctx, rec)
	if err == nil {
		return outcome{}, true
	}
	ts.opts.Logger.Error("audit intent record not written: the call does nothing", "tool", c.tool.Name, "err", err)
	o := refused("audit intent not written", mcp.NewToolResultError(fmt.Sprintf("Nothing was changed: the audit record that must precede this action could not be written (%v). The operator must fix the audit log (--audit-log) before %s can run; then call it again.",
		err, c.tool.Name))).about(e).confirmedWith(confirm)
	o.auditFailed = true
	return o, false
}

// auditRecord builds the audit record of a call and its outcome.
func (ts *Toolset) auditRecord(ctx context.Context, c *call, o outcome) audit.Record {
	rec := audit.Record{
		Time: c.started.UTC().Format(time.RFC3339Nano), Tool: c.tool.Name, Tier: string(c.tool.Tier), Org: ts.clientFor(ctx).OrgID(),
		ResourceID: c.id, BatchID: c.batch, Outcome: o.status, Detail: o.detail,
		Confirmation: o.confirm.channel, ConfirmedBy: o.confirm.by, ApprovalID: o.confirm.approvalID, ConfirmMode: string(ts.opts.Confirm),
		DurationMS: float64(ts.opts.Now().Sub(c.started).Microseconds()) / 1000, Session: sessionID(ctx), Transport: transportName(ctx),
	}
	if c.kind != nil { // a bulk call with an unusable type has none
		rec.ResourceType = string(c.kind.Kind)
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
		if ae, ok := errors.AsType[*tallyfy.APIError](o.err); ok {
			rec.HTTPStatus, rec.RequestID = ae.Status, ae.RequestID
		} else if re, ok := errors.AsType[*tallyfy.ResponseError](o.err); ok {
			rec.HTTPStatus, rec.RequestID = re.Status, re.RequestID
		}
		rec.Detail = cmp.Or(rec.Detail, clip(describe(o.err), 300))
	}
	return rec
}

// decodeArgs decodes the call's arguments (already checked against the schema by the judge).
func decodeArgs[T any](req mcp.CallToolRequest) (T, error) {
	var v T
	raw, err := json.Marshal(req.GetRawArguments())
	if err != nil {
		return v, err
	}
	if string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return v, dec.Decode(&v)
}
