package sandbox

// This file holds every behaviour of the sandbox that docs/tallyfy-api.md
// marks INFERENCE, or that no source states, and names the source of every
// response shape the sandbox serves. Each decision cites the section of
// docs/tallyfy-api.md it belongs to. When a live check against the real Tallyfy API
// says otherwise, change it here and nowhere else.
//
// Behaviour that the doc states as fact (paths, success statuses and bodies,
// "archived template GET is 404", "run hard delete needs archive first, 422",
// admin-only run/template hard deletes, envelopes, per_page default 10) is
// implemented directly in the handlers (tasks.go, runs.go, templates.go,
// envelopes.go) and is not repeated here.

import (
	"cmp"
	"math"
	"net/http"
	"strings"
	"time"
)

// ---------------------------------------------------------------------------
// Response shapes (docs/tallyfy-api.md §7). The sandbox serves the richer shapes that
// Tallyfy's own published sources show, never only the ones the client was first
// written for; tallyfy/testdata/contract holds one answer per endpoint and source
// (SOURCES.md), and drift_test.go fails when an answer here has a field or type
// that no corpus file of the same endpoint shows. model.go builds them:
//
//   - GET /tasks/{id}, restore (taskJSON): docs get-task: owners.users integers,
//     archived_at present, is_oneoff_task, extra fields (is_approved,
//     max_assignable, webhook, top_secret, ...).
//   - GET /tasks items (taskListJSON): docs list-org-tasks: owners.users as user
//     objects {id, full_name}, and no archived_at: only the archived= filter of
//     the listing tells.
//   - One-off tasks created once per assignee (IDs.PerAssigneeTask): Tallyfy's MCP
//     server, server/tools/task_management.py create_standalone_task: one process
//     container with one task per assignee; each is_oneoff_task true with that
//     run's run_id. oneOffInRun names those containers.
//   - GET /runs/{id}, GET /runs items (runJSON): progress as {complete, total,
//     percent} (swagger Run, docs list-processes); whole_progress as {} (docs
//     get-process); prerun as a list of kick-off values (swagger Run,
//     PrerunData); alerts and collaborators (swagger Run); due_soon, late_tasks
//     (docs list-processes).
//   - PUT /runs/{id}/activate (runActivatedJSON): docs activate-process, the
//     few fields its example shows.
//   - DELETE /runs/{id} (runArchivedJSON): docs archive-process: progress a bare
//     number, started_by and owner_id strings.
//   - GET /checklists/{id}, restore (templateJSON): docs get-template: prerun a
//     list of kick-off fields, no steps_count.
//   - GET /checklists items (templateListJSON): docs list-templates: no
//     archived_at, owner_id and created_by strings, steps_count.
//   - GET /me, GET /me/organizations (identity.go): the CLI's Me type (id an
//     integer, email, username, first_name, last_name, timezone); the connector
//     swagger's Get_User_Organizations items (user_role, user_status, joined_on,
//     ...). INFERENCE there: the role's capitalized spelling ("Admin"), which no
//     source shows on this list.

// Template archive answers (docs/tallyfy-api.md §1.7, §7): deleted_references is {} (docs
// since the 2026-03-01 rewrite) for a template nothing embeds, and a list of {type, title, id}
// (a later docs revision) for one that other templates or steps embed. The seeded embeds:
// a step of Quarterly Security Review embeds Client Onboarding Checklist (IDs.EmbeddedTemplate);
// the other templates are embedded nowhere. The sandbox does not take
// the embed out of the step's text, and restoring puts nothing back (there is nothing to put).
type reference struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	ID    string `json:"id"`
}

func embedsOf(templateID string) []reference {
	if templateID != IDs.EmbeddedTemplate {
		return nil
	}
	return []reference{{Type: "Step", Title: "Review new client accounts (Quarterly Security Review)", ID: seedID("step", "quarterly-security-review-client-accounts")}}
}

// runProgressTotal is the task count over which a run's percent is spread in its
// progress object. INFERENCE: the seed stores percents only.
const runProgressTotal = 20

// oneOffInRun names the seeded runs that are containers of one-off tasks created
// once per assignee (see above).
var oneOffInRun = map[string]bool{"timesheets-week-27": true}

// ---------------------------------------------------------------------------
// Timestamps (docs/tallyfy-api.md §0 "Timestamps": ISO-8601, both ".000Z" and "Z"
// forms occur; the connector swagger's Date is YYYY-mm-ddTHH:ii:ssZ). The sandbox stamps
// changes in whole seconds, in UTC with a Z suffix (Sandbox.stamp, variants.go);
// VariantMillisecondStamps stamps milliseconds. Seeded stamps are whole seconds written ".000Z".

// ---------------------------------------------------------------------------
// Authentication (docs/tallyfy-api.md §0 "Required headers", §3, §4 "Error bodies").

// clientHeaderOK decides whether an X-Tallyfy-Client header value is accepted.
// The docs say the header is required and show the value "APIClient"; whether
// other values are rejected is not stated. INFERENCE: any non-empty value.
func clientHeaderOK(v string) bool { return strings.TrimSpace(v) != "" }

// The bearer scheme is matched case-insensitively ("Bearer", "bearer"), as
// RFC 6750 allows. INFERENCE (§0).
const bearerSchemeCaseInsensitive = true

// 401 body. §4 says 401 means a missing/expired token or a missing
// X-Tallyfy-Client header; the body is not documented. INFERENCE: Laravel's
// default message plus a code in the general error shape.
const (
	unauthenticatedMessage = "Unauthenticated."
	unauthenticatedCode    = "UNAUTHENTICATED"
)

// 403 for an organization the token does not belong to (§3 "Calling another
// org ... gives 403"; the exact message for personal tokens is not documented).
const (
	forbiddenCode       = "FORBIDDEN"
	wrongOrgMessage     = "You don't have permission to access this organization."
	adminOnlyStatusCode = http.StatusForbidden
)

// adminOnlyMessage is the 403 message when a non-admin calls a permanent delete of a run or
// template (roles.go). §1.6/§1.9 document the admin requirement but not the message text.
func adminOnlyMessage(kind string) string {
	switch kind {
	case kindRun:
		return "Only administrators can permanently delete processes."
	default:
		return "Only administrators can permanently delete templates."
	}
}

// ---------------------------------------------------------------------------
// Tasks (docs/tallyfy-api.md §1.1, §1.2, §1.3, §2.1, §2.2).

// GET of an archived task: §2.1 "Undocumented: whether an archived task is
// returned. INFERENCE: possibly 404". The sandbox answers 404
// RESOURCE_NOT_FOUND for an archived task, exactly as for an unknown one;
// VariantArchivedTaskGet200 answers with the task.
//
// Archiving an already-archived task, run or template: no source says.
// INFERENCE: soft-deleted rows are invisible to the lookup, so 404;
// VariantArchiveArchived200 answers 200 and changes nothing.

// Archiving (or hard-deleting, or restoring) a process task. §1.1 documents the
// "one-off tasks only" precondition but not the error; an older page listed
// 400 among the errors. INFERENCE: 400 with this body.
const (
	notOneOffStatus         = http.StatusBadRequest
	notOneOffCode           = "NOT_ONEOFF_TASK"
	notOneOffArchiveMessage = "Only one-off tasks can be archived; archive the process instead."
	notOneOffDeleteMessage  = "Only one-off tasks can be permanently deleted; process tasks are deleted with their process."
	notOneOffRestoreMessage = "Only one-off tasks can be restored; activate the process instead."
)

// Restoring a task that is not archived. §1.2: response and errors are
// undocumented. INFERENCE: 422 NOT_ARCHIVED.
const (
	notArchivedStatus      = http.StatusUnprocessableEntity
	notArchivedCode        = "NOT_ARCHIVED"
	taskNotArchivedMessage = "The task is not archived."
)

// taskHardDeleteRequiresArchived: §1.3 "INFERENCE/uncertain: whether a live
// (un-archived) one-off task can be hard-deleted directly". The docs do not
// require archiving first, so the sandbox allows both (the MCP server enforces
// archive-first itself). Set to true to answer 422 for a live task.
const taskHardDeleteRequiresArchived = false

const taskHardDeleteNotArchivedMessage = "The task isn't archived yet — archive it first"

// Archiving a run soft-deletes its tasks (§1.4, documented). How those tasks
// then look is not documented. INFERENCE: they behave like archived tasks —
// archived_at is set to the run's archived_at, GET returns 404, they are
// hidden from default task lists and appear with archived=true / archived=only
// — until the run is activated, which clears archived_at again.
const runArchiveCascadesToTasks = true

// ---------------------------------------------------------------------------
// Runs (docs/tallyfy-api.md §1.4, §1.5, §1.6, §2.3, §2.4).

// GET of an archived run: §2.3 "INFERENCE (weak): it probably returns archived
// runs with archived_at set". The sandbox returns them, status "archived";
// VariantArchivedRunGet404 answers 404.
//
// Activating a live run: §1.5. The docs said until their 2026-03-01 rewrite that
// activating a run that is not archived returns an error; the rewrite dropped
// it. The sandbox answers 200 with the unchanged run; VariantActivateLiveError
// answers 422.

// §1.6: the docs list both 404 and 422 for "not archived". INFERENCE (per the
// doc's own suggestion): 422 for a live run, 404 for unknown or already
// hard-deleted. The message text is the documented one.
const runNotArchivedMessage = "Process isn't archived yet — archive it first"

// runMatchesStatus implements the runs list `status=` filter (§2.4 lists the
// values active|complete|problem|issue|improvement|archived|delayed|starred but
// not their exact meaning). `archived` is handled by the caller (it means
// "only archived", §2.4). INFERENCE for the rest:
//   - active, complete: the run's visible status equals the value;
//   - problem: status problem or issue (documented: docs list-processes, "The problem filter
//     also returns issue processes");
//   - starred: starred runs;
//   - delayed: the due date has passed and the run is not complete;
//   - issue, improvement, anything else: the visible status equals the value
//     (no seeded run has such a status, so these match nothing).
func runMatchesStatus(r *run, status string, now time.Time) bool {
	switch status {
	case "starred":
		return r.Starred
	case "delayed":
		return r.dueDatePassed(now)
	case "problem":
		return r.visibleStatus() == "problem" || r.visibleStatus() == "issue"
	default:
		return r.visibleStatus() == status
	}
}

// ---------------------------------------------------------------------------
// Templates (docs/tallyfy-api.md §1.7, §1.8, §1.9, §2.5, §2.6).

// templateStatus is the value of a template's `status` field. §2.5 lists the
// field but not its values. INFERENCE.
const templateStatus = "active"

// Archiving an already-archived template: §1.7 documents no errors. INFERENCE:
// 404 (the backend's lookup uses whereNull(deleted_at), §2.5);
// VariantArchiveArchived200 answers 200.

// Restoring a template. §1.8: response shape and errors undocumented.
// INFERENCE: 200 {"data": template}; 422 NOT_ARCHIVED for a live template
// (VariantRestoreLive200: 200 with the unchanged template, as for tasks).
const templateNotArchivedRestoreMessage = "The template is not archived."

// Hard-deleting a live template. §1.9: "If the template isn't archived yet,
// you'll get an error"; the status is not given. INFERENCE: 422, as for runs.
const templateNotArchivedDeleteMessage = "Template isn't archived yet — archive it first"

// ---------------------------------------------------------------------------
// Lists (docs/tallyfy-api.md §2.2, §2.4, §2.6, §4 "Pagination").

// archivedMode is how a list treats archived records.
type archivedMode int

const (
	archivedExclude archivedMode = iota
	archivedInclude
	archivedOnly
)

// parseArchivedParam reads the `archived` query parameter. Documented (§2.2,
// §2.6): `true` includes archived records, `only` returns only archived ones,
// "any other truthy value includes them". INFERENCE: absent, empty, "false",
// "0", "no" and "off" (case-insensitive) exclude archived records; every other
// value includes them.
func parseArchivedParam(v string) archivedMode {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "no", "off":
		return archivedExclude
	case "only":
		return archivedOnly
	default:
		return archivedInclude
	}
}

// parseIsOneoff reads the tasks list `is_oneoff` parameter (§2.2 documents
// true|false). INFERENCE: "1"/"0" are accepted too, any other value is
// ignored (no filter).
func parseIsOneoff(v string) (want bool, filter bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// taskMatchesStatus implements the tasks list `status=` filter (§2.2 lists
// active|complete|incomplete|inprogress|overdue|due_soon|hasproblem without
// definitions; Tallyfy's MCP server also passes "all"). INFERENCE:
//   - all: every task;
//   - complete: completed tasks;
//   - active, incomplete: tasks that are not completed;
//   - inprogress: status "in-progress";
//   - overdue: not completed and the deadline has passed;
//   - due_soon: not completed and the deadline is within the next 7 days;
//   - hasproblem and anything else: match nothing (no seeded task has a problem).
func taskMatchesStatus(t *task, status string, now time.Time) bool {
	switch status {
	case "all": // Tallyfy's MCP server's default (docs/tallyfy-api.md §2.2)
		return true
	case "complete":
		return t.Status == taskCompleted
	case "active", "incomplete":
		return t.Status != taskCompleted
	case "inprogress":
		return t.Status == taskInProgress
	case "overdue":
		d, ok := parseTS(t.Deadline)
		return ok && t.Status != taskCompleted && d.Before(now)
	case "due_soon":
		d, ok := parseTS(t.Deadline)
		return ok && t.Status != taskCompleted && !d.Before(now) && d.Before(now.Add(7*24*time.Hour))
	default:
		return false
	}
}

// taskMatchesQuery implements `q` for tasks as documented: it "searches process
// name or step name" (docs list-org-tasks; the connector swagger's task search
// says "by their Process name"). The sandbox matches, case-insensitively, a
// process task's title (its step name) or the name of the task's run. A one-off
// task has no step, so its title never matches: list_tasks finds one-off tasks
// by title itself.
func taskMatchesQuery(t *task, rn *run, q string) bool {
	return (!t.OneOff && containsFold(t.Title, q)) || (rn != nil && containsFold(rn.Name, q))
}

// Paging parameters (§4 "Pagination": page is 1-based, per_page default 10,
// server maximum 100).
const (
	defaultPerPage = 10
	maxPerPage     = 100
)

// perPageError is the 422 body field message for a bad per_page. The shape is
// the documented 422 validation shape (§4); the text is INFERENCE. Values above
// the maximum are clamped to 100 rather than rejected (INFERENCE).
const perPageErrorMessage = "The per page must be an integer between 1 and 100."

// INFERENCE (Laravel paginator behaviour): an empty `page` or `per_page` is
// treated as absent; a non-numeric or < 1 `page` is treated as page 1; a page
// past the end returns an empty `data` array; `total_pages` is never below 1.
const (
	invalidPageIsFirstPage = true
	minTotalPages          = 1
)

// withoutPaginationTrue reads `without_pagination` (§2.2, §2.4, §4: "true
// returns everything"). INFERENCE: "true" or "1"; the response still carries
// meta.pagination describing a single page holding every record.
func withoutPaginationTrue(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "true" || v == "1"
}

// Sort orders. The `sort` / `sort_by` parameters are not implemented.
//
// Templates: §2.6 documents "pinned templates first, then sort_by (default
// "updated")"; the direction is INFERENCE: most recently updated first, then
// id for stability.
//
// Runs and tasks: the default order is undocumented. INFERENCE: created_at
// descending, then id ascending.
func templateOrder(a, b *template) int {
	if a.IsPinned != b.IsPinned {
		if a.IsPinned {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(b.LastUpdated, a.LastUpdated), strings.Compare(a.ID, b.ID))
}

func newestRunFirst(a, b *run) int {
	return cmp.Or(strings.Compare(b.CreatedAt, a.CreatedAt), strings.Compare(a.ID, b.ID))
}

func newestTaskFirst(a, b *task) int {
	return cmp.Or(strings.Compare(b.CreatedAt, a.CreatedAt), strings.Compare(a.ID, b.ID))
}

// ---------------------------------------------------------------------------
// Routing (docs/tallyfy-api.md §0, §4 "Error bodies").

// uncleanPathIsEndpointNotFound: a path with "//", "." or ".." segments or a
// trailing slash is answered 404 ENDPOINT_NOT_FOUND instead of the redirect
// Go's ServeMux would send (a redirected DELETE would turn into a GET).
// INFERENCE.
const uncleanPathIsEndpointNotFound = true

// ---------------------------------------------------------------------------
// Fault bodies (docs/tallyfy-api.md §4 "Rate limits", "Error bodies").

// 429 body: §4 documents only the hourly-cap body; burst throttling's body is
// not documented. INFERENCE: Laravel's throttle message in the general shape.
const (
	rateLimitMessage = "Too Many Attempts."
	rateLimitCode    = "RATE_LIMIT_EXCEEDED"
)

// ---------------------------------------------------------------------------
// Rate limit (rate_limiter.go; docs/tallyfy-api.md §4 "Rate limits", §8). Sources give the limit
// per user on a rolling window, 429 with Retry-After in seconds, and X-RateLimit-Remaining; the
// rest is INFERENCE:
//   - the count is per bearer token, and requests refused 401 are not counted (Tallyfy counts
//     unauthenticated callers per IP; the sandbox does not limit them);
//   - a refused request is not counted, as in Laravel's ThrottleRequests (it refuses before it
//     records a hit), so a client that waits out Retry-After gets in;
//   - Retry-After is the whole seconds, rounded up, until the oldest counted request leaves the
//     window (at least 1), and X-RateLimit-Reset the Unix time that many seconds ahead
//     (Laravel's availableAt);
//   - the limit comes before faults: a refused request never reaches a fault rule.

const rateLimitCountsRefused = false

func rateLimitRetryAfterSeconds(untilFree time.Duration) int {
	return max(1, int(math.Ceil(untilFree.Seconds())))
}

// 5xx body: INFERENCE, the general error shape.
const (
	serverErrorMessage = "Server Error"
	serverErrorCode    = "SERVER_ERROR"
)
