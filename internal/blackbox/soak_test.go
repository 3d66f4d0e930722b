//go:build soak

// The soak runs only with -tags soak (`make unit` and `make soak` pass it): at 1,500 calls it
// takes about a minute on two cores, too long for every plain `go test ./...`.

package blackbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// soakFaults is the fault mix of the soak (sandbox.ParseFaults syntax), about 10 % of
// requests. 429 is injected on GET and PUT only: on a permanent DELETE …/delete a 429 is
// retried by design (Tallyfy did not process it), which would make "one DELETE …/delete per
// tool call" unprovable from the request log.
const soakFaults = "429=0@0.02:GET,429=0@0.02:PUT,503@0.02,reset-before@0.02," +
	"reset-after@0.01:DELETE,reset-after@0.01:PUT,latency=5ms@0.02,500@0.01"

// soakDeleteFaults is added for the delete phase, so that permanent deletes meet every
// ambiguous answer: a 503 (nothing happened), a dropped connection before the request was
// processed (nothing happened) and one after (the delete happened, its answer was lost).
const soakDeleteFaults = "503@0.25:DELETE~/delete,reset-after@0.25:DELETE~/delete,reset-before@0.15:DELETE~/delete,"

const soakWorkers = 8

// soakOutcome is what one lifecycle or delete call did, in call order per resource.
type soakOutcome struct {
	tool  string
	class string // ok, noop, err
}

// soakStats is shared by the workers.
type soakStats struct {
	sb   *sandbox.Sandbox
	made atomic.Int64 // tool calls made

	mu         sync.Mutex
	perID      map[string][]soakOutcome // lifecycle and delete calls per resource, in order
	toolErrs   map[string]int           // isError results per tool
	toolOK     map[string]int
	rpcErrs    int
	violations []string
	deleteCall map[string]int // delete tool calls per resource
}

func (s *soakStats) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.violations) < 50 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	} else if len(s.violations) == 50 {
		s.violations = append(s.violations, "… more violations not shown")
	}
}

func (s *soakStats) record(tool, id string, res *mcp.CallToolResult, err error, mutating bool, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.rpcErrs++
		if len(s.violations) < 50 {
			s.violations = append(s.violations, fmt.Sprintf("%s %s: JSON-RPC error or no answer: %v", tool, id, err))
		}
		return
	case res.IsError:
		s.toolErrs[tool]++
	default:
		s.toolOK[tool]++
	}
	if !mutating {
		return
	}
	class := "err"
	if !res.IsError {
		class = "noop"
		if changed {
			class = "ok"
		}
	}
	s.perID[id] = append(s.perID[id], soakOutcome{tool: tool, class: class})
}

// TestSoak drives one stdio tallyfy-mcp process with SOAK_CALLS tool calls (default 1500)
// from 8 concurrent workers against a sandbox injecting about 10 % faults, then checks that
// nothing crashed or leaked, every answer matched Tallyfy's state, every mutating call was
// audited exactly once, and no permanent delete was sent twice by one call.
func TestSoak(t *testing.T) {
	calls := 1500
	if v := os.Getenv("SOAK_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < soakWorkers*10 {
			t.Fatalf("SOAK_CALLS=%q: want a whole number ≥ %d", v, soakWorkers*10)
		}
		calls = n
	}
	sb, fc, url := startCountedSandbox(t, sandbox.WithFaultSeed(20260728))

	// Resources, interleaved by kind so each worker owns a mix.
	var tasks, runs, tpls []item
	for _, it := range inventory(t) {
		switch {
		case it.kind == "task" && it.oneOff && it.runID == "":
			tasks = append(tasks, it)
		// A per-assignee one-off task lives in a container run that another worker may
		// archive, which archives the task too: one owner per item cannot hold for it, so the
		// soak leaves it out (tools/shapes_test.go and e2e/shapes.test.mjs cover it).
		case it.kind == "run":
			runs = append(runs, it)
		case it.kind == "template":
			tpls = append(tpls, it)
		}
	}
	var all []item
	for i := 0; i < max(len(tasks), len(runs), len(tpls)); i++ {
		for _, l := range [][]item{tasks, runs, tpls} {
			if i < len(l) {
				all = append(all, l[i])
			}
		}
	}
	if len(all) < soakWorkers*2 {
		t.Fatalf("the seed has %d one-off tasks, runs and templates; the soak needs %d", len(all), soakWorkers*2)
	}
	owned := make([][]item, soakWorkers)
	for i, it := range all {
		owned[i%soakWorkers] = append(owned[i%soakWorkers], it)
	}

	auditPath := testkit.AuditPath(t)
	p := harness.Start(t, harness.Config{
		Args: []string{"--log-level", "info", "--audit-log", auditPath, "--confirm", "off",
			"--max-deletes-per-hour", "-1", "--request-timeout", "10s"},
		Env:  sandboxEnv(url, sandbox.AdminToken),
		Name: "soak",
	})
	rssStart, thrStart := mustProcStatus(t, p.PID())
	sb.SetFaults(mustFaults(t, soakFaults)...)

	st := &soakStats{sb: sb, perID: map[string][]soakOutcome{}, toolErrs: map[string]int{}, toolOK: map[string]int{}, deleteCall: map[string]int{}}
	var done atomic.Int64
	var rss10, thr10 int
	var sampleErr error
	sampled := make(chan struct{})
	go func() { // sample the child at 10 % of the calls
		defer close(sampled)
		for done.Load() < int64(calls/10) {
			time.Sleep(2 * time.Millisecond)
		}
		rss10, thr10, sampleErr = procStatus(p.PID())
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < soakWorkers; w++ {
		n := calls / soakWorkers
		if w < calls%soakWorkers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakWorker(p, sb, st, owned[w], n, uint64(w), &done)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	<-sampled
	if sampleErr != nil {
		t.Fatalf("sampling the child at 10%%: %v (did it crash?)", sampleErr)
	}
	rssEnd, thrEnd := mustProcStatus(t, p.PID())

	// Phase 2: each worker permanently deletes every resource it owns but its last one (so
	// some remain to compare at the end), under the soak faults plus delete faults.
	sb.SetFaults(mustFaults(t, soakDeleteFaults+soakFaults)...)
	var deleted sync.Map
	deleteStart := time.Now()
	for w := 0; w < soakWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, it := range owned[w][:len(owned[w])-1] {
				if soakDelete(p, sb, st, it) {
					deleted.Store(it.id, true)
				}
			}
		}()
	}
	wg.Wait()
	deleteElapsed := time.Since(deleteStart)

	// Final truth: with faults cleared, every get_* equals the sandbox.
	sb.SetFaults()
	for _, it := range all {
		rec, exists := sb.Lookup(it.kind, it.id)
		st.made.Add(1)
		res, err := p.Call(toolName(it.kind, "get"), map[string]any{idArgName(it.kind): it.id})
		st.record(toolName(it.kind, "get"), it.id, res, err, false, false)
		switch {
		case err != nil:
			t.Errorf("final get %s %s: JSON-RPC error %v", it.kind, it.id, err)
		case !exists:
			if !res.IsError || !strings.Contains(testkit.Text(res), "archived or not") {
				t.Errorf("final get %s %s: sandbox says deleted, get says %s", it.kind, it.id, testkit.Text(res))
			}
			if _, ok := deleted.Load(it.id); !ok {
				t.Errorf("%s %s is gone but was never reported deleted", it.kind, it.id)
			}
		case res.IsError:
			t.Errorf("final get %s %s: %s", it.kind, it.id, testkit.Text(res))
		default:
			if got := getArchived(t, it.kind, res); got != rec.Archived {
				t.Errorf("final get %s %s: archived=%v, sandbox archived=%v", it.kind, it.id, got, rec.Archived)
			}
		}
	}

	exit := p.Stop()
	if exit != 0 {
		t.Errorf("exit code %d on stdin EOF, want 0; stderr tail:\n%s", exit, tail(p.Stderr.Bytes(), 2000))
	}
	rpc := checkJSONRPCStream(t, p.Stdout.Bytes())

	// Every call answered; no JSON-RPC errors.
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rpcErrs != 0 {
		t.Errorf("%d calls were answered with a JSON-RPC error, want 0", st.rpcErrs)
	}
	answered := sumValues(st.toolOK) + sumValues(st.toolErrs)
	if int64(answered) != st.made.Load() {
		t.Errorf("%d tool calls made, %d answered with a result", st.made.Load(), answered)
	}
	if int64(rpc.results) < st.made.Load() {
		t.Errorf("stdout holds %d results for %d tool calls", rpc.results, st.made.Load())
	}
	for _, v := range st.violations {
		t.Error(v)
	}

	// Every mutating call audited exactly once, in call order per resource, with the
	// outcome the caller saw.
	audit, intents := outcomeRecords(t, auditLines(t, auditPath))
	auditByID := map[string][]soakOutcome{}
	for _, r := range audit {
		id, _ := r["resource_id"].(string)
		tool, _ := r["tool"].(string)
		class := "err"
		switch r["outcome"] {
		case "ok":
			class = "ok"
		case "noop":
			class = "noop"
		}
		auditByID[id] = append(auditByID[id], soakOutcome{tool: tool, class: class})
	}
	mutating := 0
	for id, want := range st.perID {
		mutating += len(want)
		got := auditByID[id]
		if len(got) != len(want) {
			t.Errorf("resource %s: %d mutating calls, %d audit records", id, len(want), len(got))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("resource %s call %d: caller saw %+v, audit says %+v", id, i+1, want[i], got[i])
				break
			}
		}
	}
	if len(audit) != mutating {
		t.Errorf("audit file has %d outcome records for %d mutating calls", len(audit), mutating)
	}
	if intents == 0 {
		t.Errorf("no intent records: changes were not audited before they were made")
	}

	// No permanent delete sent more often than delete calls were made (each call's own
	// count was checked to be ≤ 1 as it happened).
	sentDeletes := map[string]int{}
	for _, r := range sb.RequestLog() {
		if strings.HasPrefix(r, "DELETE ") && strings.HasSuffix(r, "/delete") {
			parts := strings.Split(r, "/")
			sentDeletes[parts[len(parts)-2]]++
		}
	}
	for id, n := range sentDeletes {
		if n > st.deleteCall[id] {
			t.Errorf("resource %s: %d DELETE …/delete requests for %d delete calls", id, n, st.deleteCall[id])
		}
	}

	// Bounded resources.
	growthMB := float64(rssEnd-rss10) / 1024
	if growthMB >= 30 {
		t.Errorf("RSS grew %.1f MB between 10%% and 100%% of the calls (%d kB → %d kB), want < 30 MB", growthMB, rss10, rssEnd)
	}
	if thrEnd > thr10+32 {
		t.Errorf("threads grew from %d (10%%) to %d (100%%)", thr10, thrEnd)
	}

	statuses, resets, slow := fc.snapshot()
	t.Logf("soak: %d calls by %d workers in %s (%.0f calls/s); delete phase %s; JSON-RPC errors %d; stdout %d lines",
		done.Load(), soakWorkers, elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(), deleteElapsed.Round(time.Millisecond), st.rpcErrs, rpc.lines)
	t.Logf("soak: sandbox requests %d; answers by status %v; dropped connections (reset-before/after) %d; ≥5 ms (latency faults) %d",
		sb.Requests(), statuses, resets, slow)
	t.Logf("soak: child RSS start %d kB, at 10%% %d kB, at 100%% %d kB (growth %.1f MB); threads %d / %d / %d",
		rssStart, rss10, rssEnd, growthMB, thrStart, thr10, thrEnd)
	t.Logf("soak: successes %s", formatCounts(st.toolOK))
	t.Logf("soak: isError results %s", formatCounts(st.toolErrs))
	t.Logf("soak: audit outcome records %d = mutating calls %d (and %d intent records); DELETE …/delete sent %d for %d delete calls; deleted %d resources; delete outcomes %s",
		len(audit), mutating, intents, sumValues(sentDeletes), sumValues(st.deleteCall), syncMapLen(&deleted), formatCounts(deleteOutcomes(audit)))
}

// deleteOutcomes counts the audit outcomes of permanent deletes (with their detail's gist).
func deleteOutcomes(audit []map[string]any) map[string]int {
	out := map[string]int{}
	for _, r := range audit {
		if r["tier"] != "permanent" {
			continue
		}
		k, _ := r["outcome"].(string)
		if d, _ := r["detail"].(string); d != "" && k != "ok" {
			k += "(" + strings.SplitN(d, " ", 2)[0] + ")"
		}
		out[k]++
	}
	return out
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func syncMapLen(m *sync.Map) int {
	n := 0
	m.Range(func(any, any) bool { n++; return true })
	return n
}

// getArchived reads the archived flag of a get_* result.
func getArchived(t testing.TB, kind string, res *mcp.CallToolResult) bool {
	var out map[string]struct {
		ID       string `json:"id"`
		Archived bool   `json:"archived"`
	}
	structured(t, res, &out)
	return out[kind].Archived
}

// soakWorker makes n calls on the resources it owns: reads, lists and lifecycle toggles.
func soakWorker(p *harness.Proc, sb *sandbox.Sandbox, st *soakStats, mine []item, n int, seed uint64, done *atomic.Int64) {
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	queries := []string{"", "Onboarding", "Invoice", "review", "zzz-no-match"}
	archived := []string{"exclude", "include", "only"}
	kinds := []string{"task", "run", "template"}
	for i := 0; i < n; i++ {
		it := mine[rng.IntN(len(mine))]
		roll := rng.IntN(100)
		switch {
		case roll < 35: // get
			tool := toolName(it.kind, "get")
			st.made.Add(1)
			res, err := p.Call(tool, map[string]any{idArgName(it.kind): it.id})
			st.record(tool, it.id, res, err, false, false)
			if err == nil {
				checkTruthful(st, tool, it, res)
			}
		case roll < 50: // list
			k := kinds[rng.IntN(len(kinds))]
			args := map[string]any{"archived": archived[rng.IntN(len(archived))], "per_page": 1 + rng.IntN(100)}
			if q := queries[rng.IntN(len(queries))]; q != "" {
				args["query"] = q
			}
			if rng.IntN(4) == 0 {
				args["page"] = 2
			}
			tool := toolName(k, "list")
			st.made.Add(1)
			res, err := p.Call(tool, args)
			st.record(tool, "", res, err, false, false)
		default: // lifecycle toggle
			verb := "archive"
			if rng.IntN(2) == 0 {
				verb = "restore"
			}
			soakLifecycle(p, sb, st, it, verb)
		}
		done.Add(1)
	}
}

// soakLifecycle archives or restores one owned resource and checks a success against the
// sandbox (race-free: only this worker touches the resource).
func soakLifecycle(p *harness.Proc, sb *sandbox.Sandbox, st *soakStats, it item, verb string) {
	tool := toolName(it.kind, verb)
	st.made.Add(1)
	res, err := p.Call(tool, map[string]any{idArgName(it.kind): it.id})
	if err != nil {
		st.record(tool, it.id, nil, err, true, false)
		return
	}
	var out lifecycleOut
	if !res.IsError {
		if err := decodeStructured(res, &out); err != nil {
			st.violate("%s %s: unreadable result: %v", tool, it.id, err)
		}
		rec, ok := sb.Lookup(it.kind, it.id)
		want := "archived"
		if verb == "restore" {
			want = "live"
		}
		switch {
		case !ok:
			st.violate("%s %s succeeded but the sandbox has no such item", tool, it.id)
		case out.Resource.State != stateWord(rec.Archived):
			st.violate("%s %s: result state %q, sandbox archived=%v", tool, it.id, out.Resource.State, rec.Archived)
		case out.Resource.State != want || out.Resource.ID != it.id:
			st.violate("%s %s: result %+v, want state %q", tool, it.id, out.Resource, want)
		}
	} else {
		checkTruthful(st, tool, it, res)
	}
	st.record(tool, it.id, res, nil, true, out.Changed)
}

// checkTruthful checks what a result claims about the item against the sandbox: a get
// reports the right archived flag; a "does not exist" answer is only given for what is gone.
func checkTruthful(st *soakStats, tool string, it item, res *mcp.CallToolResult) {
	rec, exists := st.sb.Lookup(it.kind, it.id)
	text := testkit.Text(res)
	if res.IsError {
		if strings.Contains(text, "archived or not") && exists {
			st.violate("%s %s answered 'does not exist' but it does (archived=%v): %s", tool, it.id, rec.Archived, text)
		}
		return
	}
	if strings.HasPrefix(tool, "get_") {
		var out map[string]struct {
			Archived bool `json:"archived"`
		}
		if err := decodeStructured(res, &out); err != nil {
			st.violate("%s %s: unreadable result: %v", tool, it.id, err)
			return
		}
		if got := out[it.kind].Archived; !exists || got != rec.Archived {
			st.violate("%s %s: archived=%v, sandbox exists=%v archived=%v", tool, it.id, got, exists, rec.Archived)
		}
	}
}

// soakDelete archives (if needed) and permanently deletes one owned resource, retrying
// while faults get in the way. Each delete call may send at most one DELETE …/delete.
func soakDelete(p *harness.Proc, sbx *sandbox.Sandbox, st *soakStats, it item) bool {
	for attempt := 0; attempt < 25; attempt++ {
		rec, ok := sbx.Lookup(it.kind, it.id)
		if !ok {
			return true
		}
		if !rec.Archived {
			soakLifecycle(p, sbx, st, it, "archive")
			continue
		}
		tool := toolName(it.kind, "delete")
		before := countDeletes(sbx, it.id)
		st.made.Add(1)
		res, err := p.Call(tool, map[string]any{idArgName(it.kind): it.id})
		sent := countDeletes(sbx, it.id) - before
		st.mu.Lock()
		st.deleteCall[it.id]++
		st.mu.Unlock()
		if err != nil {
			st.record(tool, it.id, nil, err, true, false)
			continue
		}
		if sent > 1 {
			st.violate("%s %s: one call sent %d DELETE …/delete requests", tool, it.id, sent)
		}
		var out deleteOut
		if !res.IsError {
			if err := decodeStructured(res, &out); err != nil || out.Status != "deleted" {
				st.violate("%s %s with --confirm off: want status deleted, got %s", tool, it.id, testkit.Text(res))
			}
			if _, still := sbx.Lookup(it.kind, it.id); still {
				st.violate("%s %s reported deleted but the sandbox still has it", tool, it.id)
			}
			if sent != 1 {
				st.violate("%s %s reported deleted after sending %d DELETE …/delete requests", tool, it.id, sent)
			}
		} else {
			checkTruthful(st, tool, it, res)
			if strings.Contains(testkit.Text(res), "is still there") {
				if _, still := sbx.Lookup(it.kind, it.id); !still {
					st.violate("%s %s said 'still there' but it is gone", tool, it.id)
				}
			}
		}
		st.record(tool, it.id, res, nil, true, !res.IsError)
	}
	_, ok := sbx.Lookup(it.kind, it.id)
	if ok {
		st.violate("%s %s: not deleted after 25 attempts", it.kind, it.id)
	}
	return !ok
}

func countDeletes(sbx *sandbox.Sandbox, id string) int {
	n := 0
	suffix := "/" + id + "/delete"
	for _, r := range sbx.RequestLog() {
		if strings.HasPrefix(r, "DELETE ") && strings.HasSuffix(r, suffix) {
			n++
		}
	}
	return n
}

// decodeStructured decodes a result's structuredContent into v.
func decodeStructured(res *mcp.CallToolResult, v any) error {
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ---------------------------------------------------------------------------
// Soak fixtures.

// faultCounter wraps the sandbox handler to count what the fault injection did: status
// codes of answers and dropped connections.
type faultCounter struct {
	h http.Handler

	mu       sync.Mutex
	statuses map[int]int
	resets   int
	slow     int // requests that took ≥ 5 ms in the handler (latency faults)
}

func newFaultCounter(h http.Handler) *faultCounter {
	return &faultCounter{h: h, statuses: map[int]int{}}
}

type countingWriter struct {
	http.ResponseWriter
	fc     *faultCounter
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets the sandbox hijack the connection to drop it (reset-before / reset-after):
// such a request ends with no status written and is counted as a reset.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (fc *faultCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &countingWriter{ResponseWriter: w, fc: fc}
	start := time.Now()
	defer func() {
		d := time.Since(start)
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if d >= 5*time.Millisecond {
			fc.slow++
		}
		if cw.status == 0 {
			fc.resets++
		} else {
			fc.statuses[cw.status]++
		}
	}()
	fc.h.ServeHTTP(cw, r)
}

func (fc *faultCounter) snapshot() (statuses map[int]int, resets, slow int) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	statuses = map[int]int{}
	for k, v := range fc.statuses {
		statuses[k] = v
	}
	return statuses, fc.resets, fc.slow
}

// startCountedSandbox is startSandbox with a faultCounter in front.
func startCountedSandbox(t testing.TB, opts ...sandbox.Option) (*sandbox.Sandbox, *faultCounter, string) {
	t.Helper()
	sb := sandbox.New(opts...)
	fc := newFaultCounter(sb)
	url, srv, err := sandbox.Listen("127.0.0.1:0", fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return sb, fc, url
}

// item is one seeded record.
type item struct {
	kind     string // task, run, template
	id, name string
	archived bool
	oneOff   bool   // tasks only
	runID    string // tasks only: the process a task belongs to, or a per-assignee one-off task's container
}

// inventory lists every seeded record by asking a fresh sandbox over its HTTP handler (so
// the tests follow the seed instead of copying it).
func inventory(t testing.TB) []item {
	t.Helper()
	sb := sandbox.New()
	get := func(collection string) []map[string]any {
		req := httptest.NewRequest("GET", "/api/organizations/"+sandbox.OrgID+"/"+collection+"?archived=true&per_page=100", nil)
		req.Header.Set("Authorization", "Bearer "+sandbox.AdminToken)
		req.Header.Set("X-Tallyfy-Client", "APIClient")
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("inventory %s: %d %s", collection, rec.Code, rec.Body)
		}
		var env struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		return env.Data
	}
	var out []item
	for _, d := range get("tasks") {
		id := d["id"].(string)
		oneOff, _ := d["is_oneoff_task"].(bool)
		rec, ok := sb.Lookup("task", id)
		if !ok {
			t.Fatalf("task %s listed but not found", id)
		}
		runID, _ := d["run_id"].(string)
		out = append(out, item{kind: "task", id: id, name: rec.Name, archived: rec.Archived, oneOff: oneOff, runID: runID})
	}
	for _, d := range get("runs") {
		id := d["id"].(string)
		rec, _ := sb.Lookup("run", id)
		out = append(out, item{kind: "run", id: id, name: rec.Name, archived: rec.Archived})
	}
	for _, d := range get("checklists") {
		id := d["id"].(string)
		rec, _ := sb.Lookup("template", id)
		out = append(out, item{kind: "template", id: id, name: rec.Name, archived: rec.Archived})
	}
	return out
}

// procStatus reads VmRSS (kB) and Threads from /proc/<pid>/status.
func procStatus(pid int) (rssKB, threads int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rssKB, _ = strconv.Atoi(f[1])
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	if rssKB == 0 || threads == 0 {
		return 0, 0, fmt.Errorf("no VmRSS/Threads in /proc/%d/status", pid)
	}
	return rssKB, threads, nil
}

// mustProcStatus is procStatus for the test goroutine.
func mustProcStatus(t testing.TB, pid int) (rssKB, threads int) {
	t.Helper()
	rssKB, threads, err := procStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	return rssKB, threads
}
