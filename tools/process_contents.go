package tools

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// What a process holds, for the refusals that name it. A task inside a process changes only
// with its process, and archive_run or delete_run on that process acts on every task in it
// (a run_id may even be the container Tallyfy makes for one-off tasks: docs/tallyfy-api.md
// §2.2). So no text points at those tools without showing what they would take with them:
// the process (name, id, status) and its tasks (how many, the first titles). These reads are
// made only on the refusal path, never on a normal call.

// shownTaskTitles is how many task titles a refusal lists before "and N more".
const shownTaskTitles = 5

// maxProcessReadsPerPlan bounds the processes a bulk plan reads for its skip reasons (two
// requests each); tasks of further processes are skipped with the process named by ID only.
const maxProcessReadsPerPlan = 10

// processContents is a process as read for a refusal: the run and the first page of its tasks.
type processContents struct {
	runID  string
	run    *tallyfy.Entity // nil when runErr
	runErr error
	// tasks: Tallyfy's total (or the items read when it gave none; atLeast when more pages
	// may hold others) and the titles of the first page, in Tallyfy's order
	total   int
	atLeast bool
	titles  []string
	// allStatuses is false when Tallyfy refused status=all: completed tasks may be missing
	allStatuses bool
	tasksErr    error
}

// readProcessContents reads process runID and the first page of its tasks (tallyfy.ProcessTasks).
func readProcessContents(ctx context.Context, client *tallyfy.Client, runID string) processContents {
	pc := processContents{runID: runID}
	if e, err := client.Lookup(ctx, tallyfy.KindRun, runID); err != nil {
		pc.runErr = err
	} else {
		pc.run = &e
	}
	p, all, err := client.ProcessTasks(ctx, runID)
	if err != nil {
		pc.tasksErr = err
		return pc
	}
	pc.allStatuses = all
	pc.total = max(p.Pagination.Total, len(p.Items))
	pc.atLeast = !all || p.Pagination.Total <= 0 && p.HasMore()
	for _, t := range p.Items {
		pc.titles = append(pc.titles, t.Title)
	}
	return pc
}

// name is the process as the texts name it: `process "Name" (id, status active)`, or by ID
// with why its name is missing.
func (pc processContents) name() string {
	if pc.run == nil {
		return fmt.Sprintf("process %s (its name and status could not be read: %s)", pc.runID, describe(pc.runErr))
	}
	status := cmp.Or(pc.run.Status, "not given")
	if pc.run.Archived && pc.run.ArchivedKnown && status != "archived" {
		status += ", archived"
	}
	return fmt.Sprintf("process %q (%s, status %s)", pc.run.Name, pc.runID, status)
}

// count is the number of tasks, as "7 tasks" or "at least 100 tasks".
func (pc processContents) count() string {
	n := fmt.Sprintf("%d task", pc.total)
	if pc.total != 1 {
		n += "s"
	}
	if pc.atLeast {
		n = "at least " + n
	}
	return n
}

// holdings lists the process's tasks: the count, the first titles and how many more.
func (pc processContents) holdings() string {
	shown := pc.titles[:min(len(pc.titles), shownTaskTitles)]
	quoted := make([]string, len(shown))
	for i, t := range shown {
		quoted[i] = fmt.Sprintf("%q", clip(t, 80))
	}
	s := "It holds " + pc.count()
	if len(quoted) > 0 {
		s += ": " + strings.Join(quoted, ", ")
	}
	if more := pc.total - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
		if pc.atLeast {
			s += " or others"
		}
	}
	s += "."
	if !pc.allStatuses {
		s += " Tallyfy did not take status=all on this list, so completed tasks may be missing from it."
	}
	return s
}

// singleRefusal is the refusal text for a single task tool on task e, which sits in the process.
func (pc processContents) singleRefusal(e tallyfy.Entity) string {
	s := fmt.Sprintf("Task %q (%s) belongs to %s by Tallyfy's answer, not a one-off task: it is archived, restored and deleted only with that process, so nothing was changed. ",
		e.Name, e.ID, pc.name())
	if pc.tasksErr != nil {
		return s + fmt.Sprintf("What the process holds could not be read (%s), so this call cannot show what archiving or deleting it would take with it: do not archive or delete the process until its tasks have been read and shown to the person (Tallyfy also keeps one-off tasks in such processes).",
			describe(pc.tasksErr))
	}
	return s + pc.holdings() + fmt.Sprintf(" archive_run or delete_run on process %s would act on all of them (%s), not only this one: show the person this list (get_run shows the process) and let them decide before either.",
		pc.runID, pc.count())
}

// skipReason is the short bulk-plan reason for a task inside the process.
func (pc processContents) skipReason() string {
	if pc.tasksErr != nil {
		return fmt.Sprintf("a task inside %s, whose tasks could not be read (%s): it changes only with its process; do not act on the process before its tasks are read and shown to the person",
			pc.name(), describe(pc.tasksErr))
	}
	return fmt.Sprintf("a task inside %s, which holds %s: it changes only with its process, and archive_run/delete_run would act on all of them; show the person first",
		pc.name(), pc.count())
}

// processReads reads each process once for a bulk plan's skip reasons, at most
// maxProcessReadsPerPlan of them, concurrent callers sharing one read.
type processReads struct {
	client *tallyfy.Client
	mu     sync.Mutex
	byRun  map[string]func() processContents
}

// get returns what process runID holds; false when the plan has already read as many
// processes as it may.
func (r *processReads) get(ctx context.Context, runID string) (processContents, bool) {
	r.mu.Lock()
	read, ok := r.byRun[runID]
	if !ok {
		if len(r.byRun) >= maxProcessReadsPerPlan {
			r.mu.Unlock()
			return processContents{}, false
		}
		read = sync.OnceValue(func() processContents { return readProcessContents(ctx, r.client, runID) })
		r.byRun[runID] = read
	}
	r.mu.Unlock()
	return read(), true
}
