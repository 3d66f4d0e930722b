package sandbox

import (
	"fmt"
	"time"
)

// An old organization's archive (issue 18 point 3): Tallyfy archives completed processes after
// 52 weeks by default, and archiving a process archives its tasks, so a mature organization
// holds tens of thousands of archived items. WithArchivedBacklog adds such a backlog, older
// than every seeded record, so that look-ups of unknown or old archived IDs can be tried
// against it.

// backlogEpoch is when the newest backlog item was created; each older one a minute before.
// backlogLayout stamps the backlog in whole seconds, as the sandbox stamps changes.
const backlogLayout = "2006-01-02T15:04:05Z"

var backlogEpoch = time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)

// WithArchivedBacklog adds n archived one-off tasks, n archived completed processes and n
// archived templates, all created and archived before the seed data.
func WithArchivedBacklog(n int) Option {
	return func(s *Sandbox) { s.backlog = max(n, 0) }
}

// BacklogIDs are the IDs of the i-th (0-based, newest first) archived backlog task, run and
// template of WithArchivedBacklog.
func BacklogIDs(i int) (task, run, template string) {
	slug := fmt.Sprintf("backlog-%d", i)
	return seedID("task", slug), seedID("run", slug), seedID("template", slug)
}

// addBacklog adds the backlog to st.
func addBacklog(st *state, n int) {
	for i := range n {
		created := backlogEpoch.Add(-time.Duration(i) * time.Minute)
		c, a := created.Format(backlogLayout), created.Add(30*time.Second).Format(backlogLayout)
		tid, rid, cid := BacklogIDs(i)
		st.tasks[tid] = &task{ID: tid, IncrementID: 100000 + i, Title: fmt.Sprintf("Archived one-off task %d", i), Alias: fmt.Sprintf("backlog-task-%d", i),
			OneOff: true, Status: taskCompleted, Owners: []int{userMember}, StarterID: userAdmin, CompleterID: userMember,
			StartedAt: c, CreatedAt: c, CompletedAt: c, LastUpdated: a, ArchivedAt: a}
		st.runs[rid] = &run{ID: rid, IncrementID: 100000 + i, Name: fmt.Sprintf("Archived process %d", i), Status: "complete",
			Progress: 100, StartedBy: userMember, OwnerID: userMember,
			CreatedAt: c, StartedAt: c, CompletedAt: c, LastUpdated: a, ArchivedAt: a}
		st.templates[cid] = &template{ID: cid, Title: fmt.Sprintf("Archived template %d", i), Alias: fmt.Sprintf("backlog-template-%d", i),
			OwnerID: userAdmin, CreatedBy: userAdmin, StepsCount: 3, CreatedAt: c, LastUpdated: a, ArchivedAt: a}
	}
}
