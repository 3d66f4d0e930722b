package tools_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/lmittmann/tint"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestAuditRecordsPerCall: one outcome record per lifecycle or permanent call, preceded by an
// intent record when (and only when) the call goes on to change something.
func TestAuditRecordsPerCall(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		h := newHarness(t, withProto(p), withMaxTries(1))
		var tokens []string
		type step struct {
			tool    string
			args    map[string]any
			outcome string // "" = no record (read tools)
			acts    bool   // an intent record comes first
			check   func(t *testing.T, rec tools.Record)
		}
		task, run, tpl := kinds[0], kinds[1], kinds[2]
		steps := []step{
			{tool: "get_task", args: map[string]any{"task_id": task.live}},
			{tool: "list_runs", args: map[string]any{"archived": "include"}},
			{tool: "get_template", args: map[string]any{"template_id": unknownID}}, // a failing read: still no record
			{tool: "archive_task", args: map[string]any{"task_id": task.live}, outcome: "ok", acts: true, check: func(t *testing.T, rec tools.Record) {
				if rec.ResourceName != h.lookup("task", task.live).Name || rec.ResourceType != "task" || rec.Tier != "lifecycle" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "archive_task", args: map[string]any{"task_id": task.live}, outcome: "noop"},
			{tool: "restore_task", args: map[string]any{"task_id": unknownID}, outcome: "failed", check: func(t *testing.T, rec tools.Record) {
				if rec.HTTPStatus != 404 || !strings.HasPrefix(rec.RequestID, "sbx-") || rec.ResourceName != "" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.live}, outcome: "refused", check: func(t *testing.T, rec tools.Record) {
				if rec.Detail != "not archived" || rec.ResourceName == "" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "archive_task", args: map[string]any{"task_id": sandbox.IDs.ProcessTask}, outcome: "refused", check: func(t *testing.T, rec tools.Record) {
				if rec.Detail != "process task" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.archived}, outcome: "confirmation_required", check: func(t *testing.T, rec tools.Record) {
				if rec.Confirmation != "token" || rec.Tier != "permanent" {
					t.Errorf("%+v", rec)
				}
			}},
			{tool: "delete_run", args: map[string]any{"run_id": run.archived, "confirm_token": "tcf1.forged.token"}, outcome: "refused", check: func(t *testing.T, rec tools.Record) {
				if !strings.Contains(rec.Detail, "altered") {
					t.Errorf("%+v", rec)
				}
			}},
		}
		for i, s := range steps {
			before := len(h.audit.all())
			r := h.call(s.tool, s.args)
			if r.err != nil {
				t.Fatalf("step %d %s: %v", i, s.tool, r.err)
			}
			if strings.HasPrefix(s.tool, "delete_") && !r.res.IsError {
				if tok := decode[schemas.DeleteResult](t, r).ConfirmToken; tok != "" {
					tokens = append(tokens, tok)
				}
			}
			recs := h.audit.all()
			if s.outcome == "" {
				if len(recs) != before {
					t.Errorf("step %d: read tool %s wrote %d records", i, s.tool, len(recs)-before)
				}
				continue
			}
			want := 1
			if s.acts {
				want = 2
			}
			if len(recs) != before+want {
				t.Fatalf("step %d %s: %d records, want %d", i, s.tool, len(recs)-before, want)
			}
			rec := recs[len(recs)-1]
			if in := recs[len(recs)-2]; s.acts && (in.Outcome != "intent" || in.Tool != s.tool || in.ResourceID != rec.ResourceID || in.Time != rec.Time || in.Detail != "archive") {
				t.Errorf("step %d: intent record %+v before %+v", i, in, rec)
			}
			if rec.Tool != s.tool || rec.Outcome != s.outcome {
				t.Errorf("step %d: record %s/%s, want %s/%s", i, rec.Tool, rec.Outcome, s.tool, s.outcome)
			}
			if s.check != nil {
				s.check(t, rec)
			}
		}
		// The second half of the token flow, and a rate-limited lifecycle call.
		h.call("delete_run", map[string]any{"run_id": run.archived, "confirm_token": tokens[0]}).ok(t)
		h.sb.SetFaults(sandbox.Fault{Kind: "429", Param: "3"})
		h.call("archive_template", map[string]any{"template_id": tpl.live}).failed(t, "Retry after 3 s")
		h.sb.SetFaults()

		var acted []string
		for _, in := range h.audit.intents() {
			acted = append(acted, in.Tool+"/"+in.Detail)
		}
		// The rate-limited archive_template failed at its look-up: it never acted.
		if want := []string{"archive_task/archive", "delete_run/delete"}; !slices.Equal(acted, want) {
			t.Errorf("intent records for %v, want %v", acted, want)
		}
		recs := h.audit.outcomes()
		if len(recs) != 9 {
			t.Fatalf("%d outcome records, want 9", len(recs))
		}
		if d := recs[7]; d.Outcome != "ok" || d.Confirmation != "token" || d.ResourceID != run.archived {
			t.Errorf("delete record %+v", d)
		}
		if rl := recs[8]; rl.Outcome != "failed" || rl.HTTPStatus != 429 || rl.RequestID == "" || rl.Tool != "archive_template" {
			t.Errorf("429 record %+v", rl)
		}
		session := recs[0].Session
		for i, rec := range h.audit.all() {
			if rec.Org != sandbox.OrgID || rec.ConfirmMode != "token" || rec.ResourceType == "" || rec.Tier == "" {
				t.Errorf("record %d: %+v", i, rec)
			}
			if len(rec.ResourceID) != 32 {
				t.Errorf("record %d: resource id %q", i, rec.ResourceID)
			}
			if rec.ClientName != testClientName || rec.ClientVersion != testClientVersion {
				t.Errorf("record %d: client %q %q", i, rec.ClientName, rec.ClientVersion)
			}
			if rec.Session == "" || rec.Session != session {
				t.Errorf("record %d: session %q (first %q)", i, rec.Session, session)
			}
			if rec.Transport == "" {
				t.Errorf("record %d: no transport", i)
			}
			if rec.DurationMS <= 0 || rec.DurationMS > 10_000 {
				t.Errorf("record %d: duration %v ms", i, rec.DurationMS)
			}
			ts, err := time.Parse(time.RFC3339Nano, rec.Time)
			if err != nil || ts.Sub(h.clock.Now()).Abs() > time.Minute {
				t.Errorf("record %d: time %q", i, rec.Time)
			}
			b, _ := json.Marshal(rec)
			for _, secret := range append([]string{sandbox.AdminToken, "Bearer"}, tokens...) {
				if strings.Contains(string(b), secret) {
					t.Errorf("record %d contains a secret: %s", i, b)
				}
			}
		}
	})
}

// failingRecorder cannot write the records fail picks (nil: none).
type failingRecorder struct {
	recorder
	fail func(tools.Record) bool
}

func (f *failingRecorder) Record(ctx context.Context, rec tools.Record) error {
	if f.fail(rec) {
		return errors.New("disk full")
	}
	return f.recorder.Record(ctx, rec)
}

// TestAuditBeforeAct: a call that changes something writes a durable intent record first; if
// that write fails nothing is done and the result says why. If only the outcome record fails,
// the change has happened and the result says so instead of looking like a clean success.
func TestAuditBeforeAct(t *testing.T) {
	t.Parallel()
	isIntent := func(r tools.Record) bool { return r.Outcome == "intent" }
	isOutcome := func(r tools.Record) bool { return r.Outcome != "intent" }
	always := func(tools.Record) bool { return true }
	forEachProtocol(t, func(t *testing.T, p protocol) {
		for _, c := range []struct {
			name    string
			fail    func(tools.Record) bool
			changes bool
			want    []string
			records []string // outcomes written
		}{
			{"intent fails", isIntent, false, []string{"Nothing was changed", "audit record that must precede", "disk full", "--audit-log"}, []string{"refused"}},
			{"everything fails", always, false, []string{"Nothing was changed", "disk full"}, nil},
			{"outcome fails", isOutcome, true, []string{"audit record could not be written", "disk full", "Outcome of the call: ok", "before doing anything else"}, []string{"intent"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, k := range kinds {
					sink := &failingRecorder{fail: c.fail}
					h := newHarness(t, withProto(p), withRecorder(sink), withConfirm(tools.ConfirmOff))
					h.call(k.archive, map[string]any{k.idArg: k.live}).failed(t, c.want...)
					if got := h.lookup(k.kind, k.live).Archived; got != c.changes {
						t.Errorf("%s: archived=%v, want %v", k.archive, got, c.changes)
					}
					h.call(k.del, map[string]any{k.idArg: k.archived}).failed(t, c.want...)
					if h.gone(k.kind, k.archived) != c.changes {
						t.Errorf("%s: deleted=%v, want %v", k.del, h.gone(k.kind, k.archived), c.changes)
					}
					if n := h.deleteCount(); !c.changes && n != 0 {
						t.Errorf("%s: %d DELETE …/delete requests reached Tallyfy after the intent record failed", k.del, n)
					}
					var got []string
					for _, r := range sink.all() {
						got = append(got, r.Outcome)
						if r.Outcome == "refused" && r.Detail != "audit intent not written" {
							t.Errorf("refusal record %+v", r)
						}
					}
					want := append(slices.Clone(c.records), c.records...) // archive, then delete
					if !slices.Equal(got, want) {
						t.Errorf("records written %v, want %v", got, want)
					}
					// Reads are not audited, so they still work.
					h.call(k.get, map[string]any{k.idArg: k.live}).ok(t)
				}
			})
		}
	})
}

func TestAuditFile(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		f, err := tools.OpenAuditFile(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("audit file mode %v, want 0600", st.Mode().Perm())
		}
		h := newHarness(t, withProto(p), withRecorder(f), withConfirm(tools.ConfirmOff))
		h.call("archive_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("list_tasks", nil).ok(t)
		h.call("restore_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("get_task", map[string]any{"task_id": sandbox.IDs.LiveTask}).ok(t)
		h.call("delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}).ok(t)
		lines := readLines(t, path)
		if len(lines) != 6 {
			t.Fatalf("%d lines, want 6 (intent and outcome per lifecycle/permanent call that acts):\n%s", len(lines), strings.Join(lines, "\n"))
		}
		want := []string{"archive_task", "archive_task", "restore_task", "restore_task", "delete_template", "delete_template"}
		for i, l := range lines {
			var rec tools.Record
			dec := json.NewDecoder(strings.NewReader(l))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("line %d is not a record: %v: %s", i, err, l)
			}
			if wantOutcome := []string{"intent", "ok"}[i%2]; rec.Tool != want[i] || rec.Outcome != wantOutcome {
				t.Errorf("line %d: %+v", i, rec)
			}
			if strings.Contains(l, sandbox.AdminToken) {
				t.Errorf("line %d holds the token", i)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		// Reopening appends, never truncates.
		f2, err := tools.OpenAuditFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h2 := newHarness(t, withProto(p), withRecorder(f2))
		h2.call("archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}).ok(t)
		if err := f2.Close(); err != nil {
			t.Fatal(err)
		}
		again := readLines(t, path)
		if len(again) != 8 || again[0] != lines[0] || !strings.Contains(again[7], `"tool":"archive_run"`) {
			t.Errorf("after reopening: %d lines:\n%s", len(again), strings.Join(again, "\n"))
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode changed to %v", st.Mode().Perm())
		}
	})
}

func TestAuditFileErrors(t *testing.T) {
	t.Parallel()
	if _, err := tools.OpenAuditFile(filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")); err == nil || !strings.Contains(err.Error(), "audit log") {
		t.Errorf("OpenAuditFile in a missing directory: %v", err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// Without an audit file the record goes to the log: JSON logs carry it as an object, text logs
// as one quoted JSON string, and a name from Tallyfy cannot put a terminal escape in either.
func TestLogRecorderFormats(t *testing.T) {
	rec := tools.Record{Tool: "archive_run", Outcome: "ok", ResourceName: "Q3 \x1b[31mred\x1b[0m \u009b plan"}
	var jb bytes.Buffer
	if err := (tools.LogRecorder{Logger: slog.New(slog.NewJSONHandler(&jb, nil))}).Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var line struct {
		Msg    string       `json:"msg"`
		Record tools.Record `json:"record"`
	}
	if err := json.Unmarshal(jb.Bytes(), &line); err != nil || line.Msg != "audit" || line.Record != rec {
		t.Errorf("JSON log: want msg audit and the record as an object, got %s (%v)", jb.Bytes(), err)
	}
	var tb bytes.Buffer
	if err := (tools.LogRecorder{Logger: slog.New(tint.NewTextHandler(&tb, &tint.Options{NoColor: true}))}).Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	text := tb.String()
	i := strings.Index(text, "record=")
	if i < 0 {
		t.Fatalf("text log without record=: %q", text)
	}
	quoted := strings.TrimSpace(text[i+len("record="):])
	unq, err := strconv.Unquote(quoted)
	var got tools.Record
	if err != nil || json.Unmarshal([]byte(unq), &got) != nil || got != rec {
		t.Errorf("text log: want record=<quoted JSON of the record>, got %q", text)
	}
	if strings.ContainsAny(text, "\x1b\u009b") {
		t.Errorf("text log carries a raw terminal escape: %q", text)
	}
}
