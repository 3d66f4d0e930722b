package tools

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// One round trip per single archive or restore (issue 11, point 4). The checks that must
// come before a change need no read here: the protect list is by ID, and a task goes this way
// only when an earlier read showed it one-off (oneoff_memory.go). So the change goes out at
// once, and one GET goes along with it only where the change's answer cannot settle the
// result (the contract corpus, tallyfy/testdata/contract/, shows each answer):
//
//   - archive_run: DELETE answers with the run. Nothing else is sent.
//   - restore_task, restore_template: PUT answers with the item. Nothing else is sent (an
//     empty answer, which some sources show, is read after).
//   - archive_task (204, empty) and archive_template ({message, deleted_references}) name
//     nothing: a GET goes along for the name.
//   - activate_run: activating a live run answers 200 with the run (docs/tallyfy-api.md §1.5;
//     tallyfy/sandbox/inference.go), like a real activation, so a GET goes along for the
//     state before: archived means this call activated it. Live is not conclusive, as Tallyfy
//     may serve the GET after the activation; then the run's last_updated decides: an
//     activation stamps it with the time Tallyfy served the change (at or after the moment
//     it was sent), a no-op leaves it as it was. That compares Tallyfy's clock with ours;
//     clocks a few hundred milliseconds apart only matter for a run changed by someone else
//     just before this call.
//
// The GET leaves first, and the change getLead after the GET is on the wire (at most
// headStart later): Tallyfy serves requests in parallel, and the lead makes it serve the GET
// first almost always. When it does not, an archived task or template answers the GET 404,
// and the name is read after the change (one more round trip, never a wrong answer).
//
// Tallyfy refuses to put an item into the state it is already in (archiving an archived item:
// 404; restoring a live task or template: 422; tallyfy/sandbox/inference.go). A refused
// change is therefore settled by reading the item: in the asked state, the call was a no-op.
// The client's pacer lets two requests leave at once (tallyfy/pacing.go), so the GET and the
// change are not queued behind each other.

// headStart is the longest the change waits for the GET that goes along to be sent; getLead
// is how long after that it leaves.
const (
	headStart = 250 * time.Millisecond
	getLead   = 3 * time.Millisecond
)

var errNotRead = errors.New("not read")

// lifecycleAtOnce archives or restores an item not read first (c.target is nil).
func (ts *Toolset) lifecycleAtOnce(ctx context.Context, c *call) outcome {
	archive := c.tool.Verb == VerbArchive
	kind := c.res.kind
	do := c.res.doRestore
	if archive {
		do = c.res.doArchive
	}
	readAlong := (archive && kind != tallyfy.KindRun) || (!archive && kind == tallyfy.KindRun)

	if o, ok := c.intend(ctx, "", tallyfy.Entity{Kind: kind, ID: c.id}); !ok {
		return o
	}
	before, readErr := tallyfy.Entity{}, errNotRead
	var wg sync.WaitGroup
	if readAlong {
		written := make(chan struct{})
		var once sync.Once
		sentGET := func() { once.Do(func() { close(written) }) }
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { sentGET() }}
		wg.Go(func() {
			defer sentGET()
			before, readErr = c.res.peek(httptrace.WithClientTrace(ctx, trace), c.client, c.id)
		})
		select {
		case <-written:
			time.Sleep(getLead)
		case <-time.After(headStart):
		}
	}
	sent := time.Now()
	var attempts atomic.Int32 // a retried change may meet what its first attempt did
	counted := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { attempts.Add(1) }})
	after, err := do(counted, c.client, c.id)
	wg.Wait()
	if err != nil {
		return ts.settleRefused(ctx, c, err, attempts.Load() > 1)
	}

	e := tallyfy.Entity{Kind: kind, ID: c.id}
	switch {
	case after != nil:
		e = *after
	case readErr == nil:
		e = before
		e.LastUpdated = "" // from before the change: not its last update any more
	}
	changed := true
	if kind == tallyfy.KindRun && !archive {
		sawArchived := readErr == nil && before.ArchivedKnown && before.Archived
		sawLive := readErr == nil && before.ArchivedKnown && !before.Archived
		switch stamped, known := touchedSince(e.LastUpdated, sent); {
		case sawArchived: // read before the activation, which changed it
		case known:
			changed = stamped
		default:
			changed = !sawLive
		}
	}
	if e.Name == "" {
		// Nothing named it: the answer carries no item and the GET was served after the
		// change (an archived task or template answers 404). Read it.
		if now, lerr := c.client.Lookup(context.WithoutCancel(ctx), kind, c.id); lerr == nil {
			e = now
		}
	}
	ts.oneOff.learn(c.client.OrgID(), e)
	e.Archived, e.ArchivedKnown = archive, true
	if !changed {
		return ended("noop", "", lifecycleResult(c, e, false)).about(e)
	}
	return succeeded(lifecycleResult(c, e, true)).about(e)
}

// settleRefused reads the item after its change failed, to say what is true now. retried:
// the change was sent more than once, so a refusal may answer what an earlier attempt did.
func (ts *Toolset) settleRefused(ctx context.Context, c *call, err error, retried bool) outcome {
	archive := c.tool.Verb == VerbArchive
	now, lerr := c.client.Lookup(context.WithoutCancel(ctx), c.res.kind, c.id)
	switch {
	case lerr == nil && now.Archived == archive && (ambiguous(err) || retried):
		// The answer was lost (or a retry met what the first attempt did): it went through.
		ts.oneOff.learn(c.client.OrgID(), now)
		return succeeded(lifecycleResult(c, now, true)).about(now).because(err)
	case lerr == nil && now.Archived == archive:
		// Refused because it already was so: the no-op.
		ts.oneOff.learn(c.client.OrgID(), now)
		return ended("noop", "", lifecycleResult(c, now, false)).about(now)
	case lerr == nil && tallyfy.IsNotFound(err):
		// It exists and is not in the asked state, yet Tallyfy said 404: it changed under us.
		return ended("failed", "", mcp.NewToolResultError(fmt.Sprintf(
			"%s %q changed while this call ran (someone else archived or restored it at the same moment): Tallyfy refused with 404 and it is now %s. Nothing was changed by this call; check it with %s and call %s again if still needed.",
			capital(c.res.noun), now.Name, stateWord(now.Archived), toolFor(c.res.kind, VerbGet).Name, c.tool.Name))).about(now).because(err)
	case lerr == nil:
		return failed(c, err).about(now)
	case tallyfy.IsNotFound(err) && tallyfy.IsNotFound(lerr):
		return failed(c, err).about(tallyfy.Entity{Kind: c.res.kind, ID: c.id})
	case tallyfy.IsNotFound(err) || ambiguous(err):
		return ended("unknown", "", mcp.NewToolResultError(fmt.Sprintf(
			"Not sure whether %s %s is %s now: Tallyfy answered %s and reading it again failed (%s). Check it with %s before calling %s again.",
			c.res.noun, c.id, stateWord(archive), describe(err), describe(lerr), toolFor(c.res.kind, VerbGet).Name, c.tool.Name))).
			about(tallyfy.Entity{Kind: c.res.kind, ID: c.id}).because(err)
	}
	return failed(c, err).about(tallyfy.Entity{Kind: c.res.kind, ID: c.id})
}

// touchedSince reports whether a last_updated stamp is from sent or later (Tallyfy writes
// milliseconds); known is false when the stamp cannot be read.
func touchedSince(lastUpdated string, sent time.Time) (stamped, known bool) {
	t, err := parseTallyfyTime(lastUpdated)
	if err != nil {
		return false, false
	}
	return !t.Before(sent.Truncate(time.Millisecond)), true
}
