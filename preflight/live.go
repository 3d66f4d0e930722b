package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// `tallyfy-mcp check --live` learns what this organization's Tallyfy does where no public
// source says (issue 18 point 9; docs/tallyfy-api.md §7 and §9). It creates one throwaway
// one-off task (POST /organizations/{org}/tasks, docs cs/tasks/create-task; the contract
// corpus's create-task.docs.json), walks it through archive, archive again, restore, restore
// again, archive and permanent delete, reads an archived process and template if the
// organization has one, and records every answer as it came. Whatever happens, it deletes what
// it created. The table says which case this Tallyfy is in; the server itself does not depend
// on it (it settles each result from Tallyfy's answers and reads).

// LiveTaskTitle is the title of the task check --live creates, so that anyone who sees it
// knows what it is.
const LiveTaskTitle = "tallyfy-mcp check — safe to delete"

const liveTaskDescription = "Created by `tallyfy-mcp check --live` to learn how this organization's Tallyfy answers archive, restore and delete. The check deletes it when it ends; if you still see it, delete it."

// SandboxVariantsHeader is the header the tallyfy-mcp sandbox sends with its variants (never
// sent by Tallyfy), so that the table can say which sandbox it met.
const SandboxVariantsHeader = "X-Tallyfy-Mcp-Sandbox-Variants"

// LiveReport is what check --live observed.
type LiveReport struct {
	OK bool `json:"ok"`
	// Met says what answered: Tallyfy, or the tallyfy-mcp sandbox and its variants.
	Met string `json:"met"`
	// Observed is the table: one row per behaviour, with the answers that show it.
	Observed []Observation `json:"observed"`
	// Steps is every request sent, in order, with Tallyfy's status (0: no answer).
	Steps []LiveStep `json:"steps"`
	// Cleanup says what became of the tasks check --live created; Left are those it could not
	// delete.
	Cleanup string   `json:"cleanup"`
	Left    []string `json:"left,omitempty"`
	// Problem is why the run could not complete, if it could not.
	Problem string `json:"problem,omitempty"`
}

// Observation is one row of the table.
type Observation struct {
	Key      string `json:"key"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
	// Evidence is the request and status that show it ("" when not observed).
	Evidence string `json:"evidence,omitempty"`
}

// LiveStep is one request of the run.
type LiveStep struct {
	Step   string `json:"step"`
	Method string `json:"method"`
	Path   string `json:"path"` // below /organizations/{org}; ids are the throwaway task's or a read item's
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"` // Tallyfy's error code, if any
}

type liveRun struct {
	c       *tallyfy.Client
	rep     *LiveReport
	variant string
	stamps  []string
	created []string               // ids of the tasks created
	gone    map[string]bool        // created tasks known deleted
	seen    map[string]Observation // by row key: the first observation of a row stands
}

// RunLive runs the live check with c, which must be allowed to write (the caller asked for it).
func RunLive(ctx context.Context, c *tallyfy.Client) *LiveReport {
	r := &liveRun{c: c, rep: &LiveReport{OK: true}, gone: map[string]bool{}, seen: map[string]Observation{}}
	defer r.cleanup(ctx)
	r.run(ctx)
	return r.rep
}

// send sends one probe and records it; the answer is nil when no HTTP answer came.
func (r *liveRun) send(ctx context.Context, step, method, path string, query url.Values, body any) *tallyfy.Answer {
	shown := path
	if len(query) > 0 {
		shown += "?" + query.Encode()
	}
	a, err := r.c.Probe(ctx, method, path, query, body)
	if err != nil {
		r.rep.Steps = append(r.rep.Steps, LiveStep{Step: step, Method: method, Path: shown})
		if r.rep.Problem == "" {
			msg, _ := diagnose(err, step, r.c.BaseURL())
			r.rep.Problem = step + ": " + msg
		}
		r.rep.OK = false
		return nil
	}
	if v := a.Header.Get(SandboxVariantsHeader); v != "" {
		r.variant = printable(v, 200)
	}
	r.rep.Steps = append(r.rep.Steps, LiveStep{Step: step, Method: method, Path: shown, Status: a.Status, Code: errorCode(a.Body)})
	r.stamps = append(r.stamps, stampsIn(a.Body)...)
	return a
}

func (r *liveRun) run(ctx context.Context) {
	defer r.finish()
	id, ok := r.create(ctx)
	if !ok {
		return
	}
	task := "/tasks/" + id
	r.send(ctx, "read the new task", http.MethodGet, task, nil, nil)

	a := r.send(ctx, "archive", http.MethodDelete, task, nil, nil)
	if a == nil {
		return
	}
	archived := is2xx(a)
	if archived {
		if g := r.send(ctx, "read the archived task", http.MethodGet, task, nil, nil); g != nil {
			r.observe("archived_task_get", getAnswer(g), step(http.MethodGet, "/tasks/{id}", g))
		}
		if again := r.send(ctx, "archive again", http.MethodDelete, task, nil, nil); again != nil {
			r.observe("archive_archived", changeAnswer(again, "refused"), step(http.MethodDelete, "/tasks/{id}", again))
		}
	} else {
		r.observe("archive_archived", "not observed: the first archive was refused ("+statusText(a)+")", step(http.MethodDelete, "/tasks/{id}", a))
	}

	res := r.send(ctx, "restore", http.MethodPut, task+"/restore", nil, nil)
	if res == nil {
		return
	}
	route := "unclear: " + statusText(res)
	switch {
	case is2xx(res):
		route = "yes: " + statusText(res)
	case res.Status == http.StatusNotFound && errorCode(res.Body) == "ENDPOINT_NOT_FOUND":
		route = "no: 404 ENDPOINT_NOT_FOUND"
	}
	r.observe("task_restore_route", route, step(http.MethodPut, "/tasks/{id}/restore", res))
	if !archived {
		r.observe("restore_live", changeAnswer(res, "refused"), step(http.MethodPut, "/tasks/{id}/restore", res))
	} else if is2xx(res) {
		if again := r.send(ctx, "restore again", http.MethodPut, task+"/restore", nil, nil); again != nil {
			r.observe("restore_live", changeAnswer(again, "refused"), step(http.MethodPut, "/tasks/{id}/restore", again))
		}
	}

	r.taskLists(ctx)
	r.archivedReads(ctx)

	// Must a one-off task be archived before its permanent delete? Try it on the live task.
	if g := r.send(ctx, "read the task before the live delete", http.MethodGet, task, nil, nil); is2xx(g) {
		if d := r.send(ctx, "permanently delete the live task", http.MethodDelete, task+"/delete", nil, nil); d != nil {
			if is2xx(d) {
				r.gone[id] = true
				r.observe("task_delete_live", "no: the live task was deleted ("+statusText(d)+")", step(http.MethodDelete, "/tasks/{id}/delete", d))
				// A second throwaway task for the archived case.
				if id, ok = r.create(ctx); !ok {
					return
				}
				task = "/tasks/" + id
			} else {
				r.observe("task_delete_live", "yes: Tallyfy refused the live task ("+statusText(d)+")", step(http.MethodDelete, "/tasks/{id}/delete", d))
			}
		}
	}
	if !is2xx(r.send(ctx, "archive before the delete", http.MethodDelete, task, nil, nil)) {
		return
	}
	if d := r.send(ctx, "permanently delete the archived task", http.MethodDelete, task+"/delete", nil, nil); d != nil {
		if is2xx(d) {
			r.gone[id] = true
			r.observe("task_delete_archived", "yes: "+statusText(d), step(http.MethodDelete, "/tasks/{id}/delete", d))
			if g := r.send(ctx, "read the deleted task", http.MethodGet, task, nil, nil); g != nil && g.Status != http.StatusNotFound {
				r.observe(stillAnswers.key, "the task still answers: "+statusText(g), step(http.MethodGet, "/tasks/{id}", g))
			}
		} else {
			r.observe("task_delete_archived", "no: "+statusText(d), step(http.MethodDelete, "/tasks/{id}/delete", d))
		}
	}
}

// create makes one throwaway task; ok is false when Tallyfy did not give one.
func (r *liveRun) create(ctx context.Context) (string, bool) {
	a := r.send(ctx, "create the throwaway task", http.MethodPost, "/tasks", nil, map[string]any{"name": LiveTaskTitle, "description": liveTaskDescription})
	if a == nil {
		return "", false
	}
	d, _ := dataOf[struct{ ID any }](a)
	id, _ := d.ID.(string)
	if !tallyfy.ValidID(id) {
		r.rep.OK = false
		r.rep.Problem = "Tallyfy did not create the throwaway task (" + statusText(a) + "): nothing else was tried"
		if a.Status == http.StatusForbidden {
			r.rep.Problem += "; this user may not create one-off tasks"
		}
		return "", false
	}
	r.created = append(r.created, id)
	return id, true
}

// taskLists compares the one-off task list without a status with status=all (which Tallyfy's
// SDK and MCP server pass): a difference is what the default hides.
func (r *liveRun) taskLists(ctx context.Context) {
	q := url.Values{"is_oneoff": {"true"}, "per_page": {"1"}}
	plain := r.send(ctx, "count one-off tasks (no status)", http.MethodGet, "/tasks", q, nil)
	qa := url.Values{"is_oneoff": {"true"}, "per_page": {"1"}, "status": {"all"}}
	all := r.send(ctx, "count one-off tasks (status=all)", http.MethodGet, "/tasks", qa, nil)
	if !is2xx(plain) || !is2xx(all) {
		r.observe("task_list_default", "not observed: a task list was refused", "")
		return
	}
	n, m := listTotal(plain.Body), listTotal(all.Body)
	answer := fmt.Sprintf("unclear: status=all shows fewer (%d) than no status (%d), so this Tallyfy does not read status=all as every status", m, n)
	switch {
	case n < 0 || m < 0:
		r.observe("task_list_default", "not observed: the lists gave no total", "")
		return
	case n == m:
		answer = fmt.Sprintf("none seen: %d one-off tasks either way", n)
	case n < m:
		answer = fmt.Sprintf("hides some: %d one-off tasks without a status, %d with status=all", n, m)
	}
	r.observe("task_list_default", answer, "GET /tasks?is_oneoff=true and &status=all")
}

// archivedReads reads one archived process and one archived template, if the organization has
// them, and activates one live process (which changes nothing if Tallyfy treats it as a no-op).
func (r *liveRun) archivedReads(ctx context.Context) {
	for _, k := range []struct{ key, noun, list string }{
		{"archived_run_get", "process", "/runs"},
		{"archived_template_get", "template", "/checklists"},
	} {
		id := r.firstOf(ctx, "find an archived "+k.noun, k.list, url.Values{"archived": {"only"}, "per_page": {"1"}})
		if id == "" {
			r.observe(k.key, "not observed: none found (archived=only)", "")
			continue
		}
		if g := r.send(ctx, "read the archived "+k.noun, http.MethodGet, k.list+"/"+id, nil, nil); g != nil {
			r.observe(k.key, getAnswer(g), step(http.MethodGet, k.list+"/{id}", g))
		}
	}
	// An active one (status=active): activation has no earlier status to bring back to it.
	id := r.firstOf(ctx, "find an active process", "/runs", url.Values{"status": {"active"}, "per_page": {"1"}})
	if id == "" {
		r.observe("activate_live", "not observed: no active process found", "")
		return
	}
	run := "/runs/" + id
	before := r.send(ctx, "read the active process", http.MethodGet, run, nil, nil)
	act := r.send(ctx, "activate the active process", http.MethodPut, run+"/activate", nil, nil)
	if act == nil {
		return
	}
	answer := changeAnswer(act, "refused")
	if after := r.send(ctx, "read it again", http.MethodGet, run, nil, nil); is2xx(before) && is2xx(after) {
		if was, now := runState(before), runState(after); was != now {
			answer += fmt.Sprintf("; it changed the process (%s → %s)", was, now)
		} else {
			answer += "; nothing about the process changed"
		}
	}
	r.observe("activate_live", answer, step(http.MethodPut, "/runs/{id}/activate", act))
}

// firstOf is the id of the first item a listing answers, if it is a Tallyfy id.
func (r *liveRun) firstOf(ctx context.Context, step, list string, query url.Values) string {
	items, ok := dataOf[[]struct{ ID any }](r.send(ctx, step, http.MethodGet, list, query, nil))
	if !ok || len(items) == 0 {
		return ""
	}
	if s, ok := items[0].ID.(string); ok && tallyfy.ValidID(s) {
		return s
	}
	return ""
}

// runState is a run's status and last_updated, as read.
func runState(a *tallyfy.Answer) string {
	d, ok := dataOf[struct {
		Status      any
		LastUpdated any `json:"last_updated"`
	}](a)
	if !ok {
		return "unreadable"
	}
	return printable(fmt.Sprintf("status %v, last_updated %v", d.Status, d.LastUpdated), 120)
}

// dataOf is a successful answer's {"data": …}; false when the answer failed or is not that.
func dataOf[T any](a *tallyfy.Answer) (T, bool) {
	var env struct{ Data T }
	if !is2xx(a) || json.Unmarshal(a.Body, &env) != nil {
		var zero T
		return zero, false
	}
	return env.Data, true
}

// finish adds the rows not observed and the timestamp resolution.
func (r *liveRun) finish() {
	res := "not observed: no timestamp read"
	if len(r.stamps) > 0 {
		frac := 0
		for _, s := range r.stamps {
			if m := fraction.FindStringSubmatch(s); m != nil && strings.Trim(m[1], "0") != "" {
				frac++
			}
		}
		res = fmt.Sprintf("whole seconds (%d timestamps read, none with a fraction)", len(r.stamps))
		if frac > 0 {
			res = fmt.Sprintf("below a second (%d of %d timestamps read have a fraction)", frac, len(r.stamps))
		}
	}
	r.observe("timestamps", res, "")
	// Table order, whatever order the rows were observed in.
	for _, row := range liveRows {
		r.observe(row.key, "not observed: an earlier step failed", "")
		r.rep.Observed = append(r.rep.Observed, row.of(r.seen))
	}
	if _, ok := r.seen[stillAnswers.key]; ok {
		r.rep.Observed = append(r.rep.Observed, stillAnswers.of(r.seen))
	}
	r.rep.Met = "Tallyfy (no tallyfy-mcp sandbox header)"
	if r.variant != "" {
		r.rep.Met = "the tallyfy-mcp sandbox, variants: " + r.variant
	}
}

// cleanup deletes every task the run created and has not seen deleted: archive, then delete,
// then the live delete if the archived one is refused. It says what is left, if anything.
func (r *liveRun) cleanup(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	var left []string
	for _, id := range r.created {
		if r.gone[id] {
			continue
		}
		task := "/tasks/" + id
		r.send(ctx, "clean up: archive", http.MethodDelete, task, nil, nil)
		d := r.send(ctx, "clean up: permanently delete", http.MethodDelete, task+"/delete", nil, nil)
		if !is2xx(d) {
			r.send(ctx, "clean up: restore", http.MethodPut, task+"/restore", nil, nil)
			d = r.send(ctx, "clean up: permanently delete the live task", http.MethodDelete, task+"/delete", nil, nil)
		}
		if is2xx(d) {
			r.gone[id] = true
			continue
		}
		left = append(left, id)
	}
	switch {
	case len(r.created) == 0:
		r.rep.Cleanup = "nothing was created"
	case len(left) == 0:
		r.rep.Cleanup = fmt.Sprintf("every task created (%d) was permanently deleted", len(r.created))
	default:
		r.rep.OK = false
		r.rep.Left = left
		r.rep.Cleanup = fmt.Sprintf("could not delete %s, titled %q: delete it in Tallyfy (Tasks, one-off, archived included)", strings.Join(left, ", "), LiveTaskTitle)
	}
}

// liveRow is a row of the table: its key and the question it answers.
type liveRow struct{ key, question string }

// liveRows are the table's rows, in order; a row not observed says why.
var liveRows = []liveRow{
	{"archive_archived", "archiving an archived item"},
	{"restore_live", "restoring a live one-off task"},
	{"activate_live", "activating a live process"},
	{"task_delete_live", "a one-off task must be archived before its permanent delete"},
	{"task_delete_archived", "the permanent delete finds an archived one-off task"},
	{"task_restore_route", "PUT /tasks/{id}/restore exists"},
	{"archived_task_get", "GET of an archived one-off task"},
	{"archived_run_get", "GET of an archived process"},
	{"archived_template_get", "GET of an archived template"},
	{"timestamps", "timestamp resolution"},
	{"task_list_default", "default status filter of task lists"},
}

// stillAnswers follows the table, and only when a deleted task still answered a GET.
var stillAnswers = liveRow{"deleted_task_get", "GET after the permanent delete"}

func (row liveRow) of(seen map[string]Observation) Observation {
	o := seen[row.key]
	o.Question = row.question
	return o
}

func (r *liveRun) observe(key, answer, evidence string) {
	if _, ok := r.seen[key]; !ok { // the first observation of a row stands
		r.seen[key] = Observation{Key: key, Answer: answer, Evidence: evidence}
	}
}

// is2xx reports whether an answer came and said success.
func is2xx(a *tallyfy.Answer) bool { return a != nil && a.Status >= 200 && a.Status <= 299 }

func statusText(a *tallyfy.Answer) string {
	s := fmt.Sprintf("%d", a.Status)
	if code := errorCode(a.Body); code != "" {
		s += " " + code
	}
	return s
}

func step(method, path string, a *tallyfy.Answer) string {
	return method + " " + path + " → " + statusText(a)
}

// changeAnswer words the answer to a change that has nothing to change.
func changeAnswer(a *tallyfy.Answer, refusedWord string) string {
	if is2xx(a) {
		return "accepted: " + statusText(a)
	}
	return refusedWord + ": " + statusText(a)
}

// getAnswer words the answer to a GET of an archived item.
func getAnswer(a *tallyfy.Answer) string {
	switch {
	case a.Status == http.StatusNotFound:
		return "404: not found, as for an unknown id"
	case is2xx(a):
		return "answered with the item: " + statusText(a)
	}
	return statusText(a)
}

// errorCode is the `code` of an error body, printable and short; "" when there is none.
func errorCode(body []byte) string {
	var e struct{ Code any }
	_ = json.Unmarshal(body, &e) // Code stays nil unless the body is an object
	s, _ := e.Code.(string)
	return printable(s, 40)
}

// listTotal is meta.pagination.total of a list, or -1.
func listTotal(body []byte) int {
	var l struct {
		Meta struct{ Pagination struct{ Total *int } }
	}
	if json.Unmarshal(body, &l) != nil || l.Meta.Pagination.Total == nil {
		return -1
	}
	return *l.Meta.Pagination.Total
}

var (
	stampPattern = regexp.MustCompile(`"(?:created_at|last_updated|archived_at|started_at)"\s*:\s*"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))"`)
	fraction     = regexp.MustCompile(`T\d\d:\d\d:\d\d\.(\d+)`)
)

// stampsIn finds the change timestamps of an answer.
func stampsIn(body []byte) []string {
	var out []string
	for _, m := range stampPattern.FindAllSubmatch(body, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// writeTable writes the live table: what was met, one row per behaviour, the cleanup.
func (l *LiveReport) writeTable(b *strings.Builder) {
	fmt.Fprintf(b, "tallyfy-mcp check --live: met %s\n", l.Met)
	width := 0
	for _, o := range l.Observed {
		width = max(width, len([]rune(o.Question)))
	}
	for _, o := range l.Observed {
		pad := strings.Repeat(" ", width-len([]rune(o.Question)))
		line := fmt.Sprintf("  %s%s  %s", o.Question, pad, o.Answer)
		if o.Evidence != "" {
			line += "  [" + o.Evidence + "]"
		}
		b.WriteString(printable(line, 400) + "\n")
	}
	m := "✓"
	switch {
	case len(l.Left) > 0:
		m = "✗"
	case l.Cleanup == "nothing was created":
		m = "–"
	}
	if l.Problem != "" {
		fmt.Fprintf(b, "✗ live: %s\n", printable(l.Problem, 500))
	}
	fmt.Fprintf(b, "%s cleanup: %s\n", m, printable(l.Cleanup, 500))
}
