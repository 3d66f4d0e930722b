package sandbox

import (
	"cmp"
	"crypto/md5"
	"encoding/hex"
)

// Tokens and the one organization the sandbox knows.
const (
	// OrgID is hex(md5("org:sandbox")).
	OrgID       = "1a08e7a5bd2ec006722aabbfae1755dd"
	AdminToken  = "sandbox-admin-token"
	MemberToken = "sandbox-member-token"
)

// Seeded user ids (docs/tallyfy-api.md §3: user ids are integers).
const (
	userAdmin  = 1001 // Avery Admin, the admin token's user
	userMember = 1002 // Morgan Member, the member token's user
	userOps    = 1003
	userFin    = 1004
	userLight  = 1005 // Lee Light, the Light member token's user (roles.go)
)

// userNames are the seeded users' full names, as task list items show them.
var userNames = map[int]string{
	userAdmin:  "Avery Admin",
	userMember: "Morgan Member",
	userOps:    "Riley Ops",
	userFin:    "Jordan Finance",
	userLight:  "Lee Light",
}

// seedID derives a deterministic 32-lowercase-hex id: hex(md5("<kind>:<slug>")).
func seedID(kind, slug string) string {
	sum := md5.Sum([]byte(kind + ":" + slug))
	return hex.EncodeToString(sum[:])
}

// SeededIDs names well-known seeded records.
type SeededIDs struct {
	LiveTask, ArchivedTask, ProcessTask string // one-off live, one-off archived, a task belonging to ActiveRun
	ActiveRun, CompleteRun, ArchivedRun string
	LiveTemplate, ArchivedTemplate      string
	// EmbeddedTemplate is a live template that a step of another template embeds: archiving it
	// answers a non-empty deleted_references (inference.go).
	EmbeddedTemplate string
	// PerAssigneeTask is a one-off task created once per assignee: Tallyfy puts such tasks in
	// one process container, so it carries that run's id with is_oneoff_task true
	// (docs/tallyfy-api.md §7). TimesheetsRun is that container.
	PerAssigneeTask, TimesheetsRun string
	// RestrictedTemplate is a live template the Standard member (MemberToken) was given no
	// rights on: archiving or restoring it is refused with 403 for them (roles.go).
	RestrictedTemplate string
}

// IDs are the ids of well-known seeded records, for tests and demos.
var IDs = SeededIDs{
	LiveTask:         seedID("task", "renew-ssl-certificate"),
	ArchivedTask:     seedID("task", "holiday-party-headcount-2025"),
	ProcessTask:      seedID("task", "jane-cooper-laptop-and-accounts"),
	ActiveRun:        seedID("run", "onboarding-jane-cooper"),
	CompleteRun:      seedID("run", "q1-2026-security-review"),
	ArchivedRun:      seedID("run", "onboarding-sam-patel"),
	LiveTemplate:     seedID("template", "employee-onboarding"),
	ArchivedTemplate: seedID("template", "legacy-expense-report-2023"),
	EmbeddedTemplate: seedID("template", "client-onboarding-checklist"),
	PerAssigneeTask:  seedID("task", "timesheet-week-27-morgan"),
	TimesheetsRun:    seedID("run", "timesheets-week-27"),

	RestrictedTemplate: seedID("template", "vendor-invoice-approval"),
}

type seedTemplate struct {
	slug, title, summary       string // the slug is the alias too
	starred, pinned            bool
	owner, steps               int
	created, updated, archived string
}

var seedTemplates = []seedTemplate{
	{"employee-onboarding", "Employee Onboarding",
		"Everything a new hire needs in the first two weeks: contract, equipment, accounts and introductions.",
		true, true, userAdmin, 12, "2026-01-12T09:00:00.000Z", "2026-05-20T14:05:00.000Z", ""},
	{"vendor-invoice-approval", "Vendor Invoice Approval",
		"Three-way match, budget owner approval and payment scheduling for supplier invoices.",
		false, false, userFin, 6, "2026-01-20T10:30:00.000Z", "2026-04-02T11:15:00.000Z", ""},
	{"quarterly-security-review", "Quarterly Security Review",
		"Access reviews, credential rotation, patch levels and backup restore tests, every quarter.",
		true, false, userOps, 9, "2026-02-03T08:00:00.000Z", "2026-06-11T16:40:00.000Z", ""},
	{"client-onboarding-checklist", "Client Onboarding Checklist",
		"Kick-off call, data collection and account setup for new customers.",
		false, false, userMember, 8, "2026-03-15T13:20:00.000Z", "2026-03-30T09:10:00.000Z", ""},
	{"legacy-expense-report-2023", "Legacy Expense Report (2023)",
		"The old paper-based expense claim flow, replaced by the finance system in 2024.",
		false, false, userFin, 5, "2026-01-05T12:00:00.000Z", "2026-02-28T17:45:00.000Z", "2026-02-28T17:45:00.000Z"},
}

type seedRun struct {
	slug, template, name, summary string
	status                        string // pre-archive status
	progress                      int
	starred                       bool
	startedBy                     int
	created, updated              string
	completed, due, archived      string
}

var seedRuns = []seedRun{
	{"onboarding-jane-cooper", "employee-onboarding", "Onboarding - Jane Cooper",
		"Senior Accountant, starts 6 July 2026.", "active", 25, false, userMember,
		"2026-07-01T08:30:00.000Z", "2026-07-03T10:12:00.000Z", "", "2026-07-17T17:00:00.000Z", ""},
	{"onboarding-marcus-lee", "employee-onboarding", "Onboarding - Marcus Lee",
		"Support Engineer, remote (Lisbon).", "active", 60, true, userMember,
		"2026-06-22T09:00:00.000Z", "2026-07-02T15:30:00.000Z", "", "2026-07-08T17:00:00.000Z", ""},
	{"invoice-inv-20417-acme", "vendor-invoice-approval", "Invoice INV-20417 - Acme Supplies",
		"Office furniture, EUR 4,820.00.", "active", 33, false, userFin,
		"2026-06-30T14:00:00.000Z", "2026-07-01T09:45:00.000Z", "", "2026-07-14T17:00:00.000Z", ""},
	{"client-onboarding-initech", "client-onboarding-checklist", "Client Onboarding - Initech",
		"Enterprise plan, 250 seats.", "active", 10, false, userMember,
		"2026-06-25T11:00:00.000Z", "2026-06-26T08:20:00.000Z", "", "2026-07-31T17:00:00.000Z", ""},
	{"q2-2026-security-review", "quarterly-security-review", "Q2 2026 Security Review",
		"Blocked: database credential rotation failed on the reporting replica.", "problem", 55, true, userOps,
		"2026-06-01T08:00:00.000Z", "2026-06-18T13:05:00.000Z", "", "2026-06-30T17:00:00.000Z", ""},
	{"q1-2026-security-review", "quarterly-security-review", "Q1 2026 Security Review",
		"All controls passed; two low findings fixed.", "complete", 100, false, userOps,
		"2026-03-02T08:00:00.000Z", "2026-04-10T15:00:00.000Z", "2026-04-10T15:00:00.000Z", "2026-03-31T17:00:00.000Z", ""},
	{"invoice-inv-20388-northwind", "vendor-invoice-approval", "Invoice INV-20388 - Northwind Traders",
		"Catering for the June all-hands, EUR 1,260.00.", "complete", 100, false, userFin,
		"2026-06-10T10:00:00.000Z", "2026-06-16T12:00:00.000Z", "2026-06-16T12:00:00.000Z", "2026-06-24T17:00:00.000Z", ""},
	{"onboarding-sam-patel", "employee-onboarding", "Onboarding - Sam Patel (offer withdrawn)",
		"Candidate withdrew before the start date.", "active", 15, false, userMember,
		"2026-05-11T09:00:00.000Z", "2026-05-19T16:00:00.000Z", "", "2026-05-29T17:00:00.000Z", "2026-05-19T16:00:00.000Z"},
	// The container of one-off tasks created once per assignee: launched from no template.
	{"timesheets-week-27", "", "Submit timesheets for week 27",
		"One task per person, so everyone can see who is done.", "active", 50, false, userAdmin,
		"2026-07-01T07:00:00.000Z", "2026-07-02T16:00:00.000Z", "", "2026-07-03T17:00:00.000Z", ""},
	{"invoice-inv-19950-globex", "vendor-invoice-approval", "Invoice INV-19950 - Globex (duplicate)",
		"Duplicate of INV-19948; paid once.", "complete", 100, false, userFin,
		"2026-04-14T10:00:00.000Z", "2026-04-30T09:00:00.000Z", "2026-04-20T11:00:00.000Z", "2026-04-28T17:00:00.000Z", "2026-04-30T09:00:00.000Z"},
}

type seedTask struct {
	slug, title, run   string // run slug, "" for one-off
	status             string
	owners             []int
	position           int
	created, started   string
	deadline, complete string
	archived           string // one-off archive time; process tasks follow their run
}

var seedTasks = []seedTask{
	// Process tasks.
	{"jane-cooper-sign-contract", "Sign employment contract", "onboarding-jane-cooper", taskCompleted, []int{userMember}, 1,
		"2026-07-01T08:30:00.000Z", "2026-07-01T08:30:00.000Z", "2026-07-03T17:00:00.000Z", "2026-07-02T11:00:00.000Z", ""},
	{"jane-cooper-laptop-and-accounts", "Set up laptop and accounts", "onboarding-jane-cooper", taskInProgress, []int{userOps}, 2,
		"2026-07-01T08:30:00.000Z", "2026-07-02T11:00:00.000Z", "2026-07-06T09:00:00.000Z", "", ""},
	{"jane-cooper-first-week-check-ins", "Schedule first-week check-ins", "onboarding-jane-cooper", taskNotStarted, []int{userMember}, 3,
		"2026-07-01T08:30:00.000Z", "", "2026-07-08T17:00:00.000Z", "", ""},
	{"q2-review-rotate-db-credentials", "Rotate production database credentials", "q2-2026-security-review", taskInProgress, []int{userOps}, 4,
		"2026-06-01T08:00:00.000Z", "2026-06-10T09:00:00.000Z", "2026-06-20T17:00:00.000Z", "", ""},
	{"sam-patel-send-welcome-pack", "Send welcome pack", "onboarding-sam-patel", taskNotStarted, []int{userMember}, 5,
		"2026-05-11T09:00:00.000Z", "", "2026-05-22T17:00:00.000Z", "", ""},
	// One-off tasks created once per assignee, in their container run (oneOffInRun).
	{"timesheet-week-27-morgan", "Submit your timesheet for week 27", "timesheets-week-27", taskNotStarted, []int{userMember}, 1,
		"2026-07-01T07:00:00.000Z", "", "2026-07-03T17:00:00.000Z", "", ""},
	{"timesheet-week-27-riley", "Submit your timesheet for week 27", "timesheets-week-27", taskCompleted, []int{userOps}, 2,
		"2026-07-01T07:00:00.000Z", "2026-07-02T09:00:00.000Z", "2026-07-03T17:00:00.000Z", "2026-07-02T16:00:00.000Z", ""},
	// One-off tasks.
	{"renew-ssl-certificate", "Renew SSL certificate for billing portal", "", taskInProgress, []int{userOps}, 0,
		"2026-06-28T10:00:00.000Z", "2026-06-29T09:00:00.000Z", "2026-07-10T17:00:00.000Z", "", ""},
	{"order-team-lunch", "Order team lunch for Friday offsite", "", taskNotStarted, []int{userMember}, 0,
		"2026-07-02T12:00:00.000Z", "", "2026-07-09T11:00:00.000Z", "", ""},
	{"update-w9-acme", "Update vendor W-9 on file for Acme Supplies", "", taskNotStarted, []int{userFin}, 0,
		"2026-06-24T15:30:00.000Z", "", "2026-07-15T17:00:00.000Z", "", ""},
	{"review-q2-marketing-budget", "Review Q2 marketing budget draft", "", taskCompleted, []int{userAdmin, userFin}, 0,
		"2026-04-01T09:00:00.000Z", "2026-04-02T09:00:00.000Z", "2026-04-05T17:00:00.000Z", "2026-04-04T16:20:00.000Z", ""},
	{"book-board-meeting-room", "Book conference room for board meeting", "", taskNotStarted, []int{userAdmin}, 0,
		"2026-06-30T08:15:00.000Z", "", "2026-07-20T17:00:00.000Z", "", ""},
	{"holiday-party-headcount-2025", "Collect holiday party headcount (2025)", "", taskNotStarted, []int{userMember}, 0,
		"2026-01-08T10:00:00.000Z", "", "2026-01-15T17:00:00.000Z", "", "2026-02-01T09:00:00.000Z"},
	{"migrate-shared-drive", "Migrate shared drive to new folder structure", "", taskCompleted, []int{userOps}, 0,
		"2026-02-10T09:00:00.000Z", "2026-02-11T09:00:00.000Z", "2026-03-01T17:00:00.000Z", "2026-02-25T14:00:00.000Z", "2026-03-05T10:30:00.000Z"},
}

// seed builds a fresh copy of the demo data.
func seed() *state {
	st := &state{
		tasks:     map[string]*task{},
		runs:      map[string]*run{},
		templates: map[string]*template{},
	}
	for _, s := range seedTemplates {
		t := &template{
			ID: seedID("template", s.slug), Title: s.title, Summary: s.summary, Alias: s.slug,
			Starred: s.starred, OwnerID: s.owner, CreatedBy: s.owner, StepsCount: s.steps, IsPinned: s.pinned,
			CreatedAt: s.created, LastUpdated: s.updated, ArchivedAt: s.archived,
		}
		st.templates[t.ID] = t
	}
	for i, s := range seedRuns {
		tpl := st.templates[seedID("template", s.template)]
		if tpl == nil {
			tpl = &template{} // a run launched without a template
		}
		r := &run{
			ID: seedID("run", s.slug), IncrementID: 101 + i, ChecklistID: tpl.ID, ChecklistTitle: tpl.Title,
			Name: s.name, Summary: s.summary, Status: s.status, Progress: s.progress,
			Starred: s.starred, StartedBy: s.startedBy, OwnerID: s.startedBy,
			CreatedAt: s.created, StartedAt: s.created, LastUpdated: s.updated,
			ArchivedAt: s.archived, CompletedAt: s.completed, DueDate: s.due,
		}
		st.runs[r.ID] = r
	}
	for i, s := range seedTasks {
		t := &task{
			ID: seedID("task", s.slug), IncrementID: 501 + i, Title: s.title, Alias: s.slug,
			OneOff: s.run == "" || oneOffInRun[s.run], Status: s.status, Owners: append([]int(nil), s.owners...),
			StarterID: userAdmin, Position: s.position,
			StartedAt: s.started, Deadline: s.deadline, CreatedAt: s.created,
			LastUpdated: cmp.Or(s.archived, s.complete, s.started, s.created), CompletedAt: s.complete, ArchivedAt: s.archived,
		}
		if s.complete != "" {
			t.CompleterID = s.owners[0]
		}
		if r := st.runs[seedID("run", s.run)]; r != nil {
			t.RunID, t.StarterID = r.ID, r.StartedBy
			if !t.OneOff { // a one-off task has no template step
				t.ChecklistID, t.StepID = r.ChecklistID, seedID("step", s.run+":"+s.slug)
			}
			if r.archived() && runArchiveCascadesToTasks {
				t.ArchivedAt, t.LastUpdated, t.archivedWithRun = r.ArchivedAt, r.ArchivedAt, true
			}
		}
		st.tasks[t.ID] = t
	}
	return st
}
