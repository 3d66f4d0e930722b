package auditlog

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

func line(t testing.TB, r audit.Record) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func rec(at, caller, tool, tier, outcome, id string) audit.Record {
	return audit.Record{Time: at, Caller: caller, Tool: tool, Tier: tier, Outcome: schemas.Outcome(outcome), ResourceID: id, ResourceType: "run", Session: "s-" + caller}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Two replicas' files: the summary merges them by time, counts by caller, tool and outcome,
// lists each permanent delete with its confirmation, and finds the intent no outcome followed.
func TestReportMergesReplicasAndFindsIntentsWithoutOutcome(t *testing.T) {
	dir := t.TempDir()
	del := rec("2026-12-01T10:00:02Z", "alice", "delete_run", "permanent", "ok", "r2")
	del.Confirmation = "elicitation"
	a := writeFile(t, dir, "a.jsonl",
		line(t, rec("2026-12-01T10:00:00Z", "alice", "archive_run", "lifecycle", "intent", "r1"))+
			line(t, rec("2026-12-01T10:00:00Z", "alice", "archive_run", "lifecycle", "ok", "r1"))+
			line(t, rec("2026-12-01T10:00:02Z", "alice", "delete_run", "permanent", "intent", "r2"))+
			line(t, del)+
			line(t, rec("2026-12-01T10:00:05Z", "alice", "archive_run", "lifecycle", "intent", "r9"))) // the process died here
	b := writeFile(t, dir, "b.jsonl",
		line(t, rec("2026-12-01T10:00:01Z", "bob", "delete_task", "permanent", "refused", "t1"))+
			line(t, rec("2026-12-01T10:00:03Z", "bob", "archive_task", "lifecycle", "intent", "t2"))+
			line(t, rec("2026-12-01T10:00:03Z", "bob", "archive_task", "lifecycle", "failed", "t2")))

	var out, warn bytes.Buffer
	if code := Command([]string{"--json", a, b}, &out, &warn); code != 0 {
		t.Fatalf("exit %d: %s", code, warn.String())
	}
	var kinds []string
	var summary struct {
		Records int            `json:"records"`
		Events  map[string]int `json:"events"`
		Counts  []Count        `json:"counts"`
	}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var m map[string]json.RawMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		var kind string
		_ = json.Unmarshal(m["kind"], &kind)
		if kind == "summary" {
			raw, _ := json.Marshal(m)
			_ = json.Unmarshal(raw, &summary)
			continue
		}
		var ev Event
		raw, _ := json.Marshal(m)
		_ = json.Unmarshal(raw, &ev)
		kinds = append(kinds, fmt.Sprintf("%s %s %s", ev.Kind, ev.Record.Tool, ev.Record.ResourceID))
	}
	want := []string{"refused delete_task t1", "permanent_delete delete_run r2", "failed archive_task t2", "intent_without_outcome archive_run r9"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Fatalf("events in time order = %q, want %q", kinds, want)
	}
	if summary.Records != 4 || summary.Events["intent_without_outcome"] != 1 {
		t.Fatalf("summary = %+v, want 4 records and 1 intent without outcome", summary)
	}
	if len(summary.Counts) != 4 || summary.Counts[0] != (Count{"alice", "archive_run", "ok", 1}) {
		t.Fatalf("counts = %+v", summary.Counts)
	}

	out.Reset()
	if code := Command([]string{a, b}, &out, &warn); code != 0 {
		t.Fatalf("text: exit %d", code)
	}
	text := out.String()
	for _, s := range []string{"4 audit records from 2 file(s)", "delete_run run r2", "confirmed=elicitation", "Intents with no outcome", "archive_run run r9", "a.jsonl:5"} {
		if !strings.Contains(text, s) {
			t.Errorf("text report lacks %q:\n%s", s, text)
		}
	}
}

func TestReportFiltersAndCSV(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "a.jsonl",
		line(t, rec("2026-12-01T09:00:00Z", "alice", "delete_run", "permanent", "ok", "r1"))+
			line(t, rec("2026-12-02T09:00:00Z", "alice", "delete_run", "permanent", "ok", "r2"))+
			line(t, rec("2026-12-02T09:00:00Z", "bob", "delete_run", "permanent", "ok", "r3"))+
			line(t, rec("2026-12-02T10:00:00Z", "alice", "archive_run", "lifecycle", "refused", "r4")))
	var out, warn bytes.Buffer
	if code := Command([]string{"--csv", "--since", "2026-12-02", "--caller", "alice", "--tool", "delete_run", "--outcome", "ok", f}, &out, &warn); code != 0 {
		t.Fatalf("exit %d: %s", code, warn.String())
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "kind" || rows[1][0] != "permanent_delete" || rows[1][7] != "r2" || rows[2][0] != "count" || rows[2][5] != "1" {
		t.Fatalf("csv rows = %q, want the header, r2's delete and one count of 1", rows)
	}
}

func TestReportRefusesANonAuditFileAndReadsPastATruncatedLastLine(t *testing.T) {
	dir := t.TempDir()
	notAudit := writeFile(t, dir, "notes.txt", "hello\nworld\n")
	var out, warn bytes.Buffer
	if code := Command([]string{notAudit}, &out, &warn); code != 1 || !strings.Contains(warn.String(), "not a tallyfy-mcp audit log") {
		t.Fatalf("exit %d, stderr %q: want 1 and 'not a tallyfy-mcp audit log'", code, warn.String())
	}
	other := writeFile(t, dir, "other.json", `{"level":"info","msg":"hello"}`+"\n")
	warn.Reset()
	if code := Command([]string{other}, &out, &warn); code != 1 {
		t.Fatalf("a JSON log that is not an audit log: exit %d, want 1", code)
	}
	full := line(t, rec("2026-12-01T09:00:00Z", "alice", "archive_run", "lifecycle", "ok", "r1"))
	cut := writeFile(t, dir, "cut.jsonl", full+full[:len(full)/2])
	out.Reset()
	warn.Reset()
	if code := Command([]string{cut}, &out, &warn); code != 0 {
		t.Fatalf("truncated last line: exit %d: %s", code, warn.String())
	}
	if !strings.Contains(out.String(), "1 audit records") || !strings.Contains(warn.String(), "cut.jsonl:2") {
		t.Fatalf("want the whole record counted and a warning naming line 2; out %q warn %q", out.String(), warn.String())
	}
	if code := Command(nil, &out, &warn); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
	if code := Command([]string{"--since", "yesterday", cut}, &out, &warn); code != 2 {
		t.Fatalf("bad --since: exit %d, want 2", code)
	}
}

// generated is an endless-looking audit log of size bytes made on the fly, so the benchmark
// reads a large log without a large file or buffer.
type generated struct {
	left int
	i    int
	buf  []byte
}

func (g *generated) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if len(g.buf) == 0 {
		at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.i) * time.Millisecond).Format(time.RFC3339Nano)
		id := fmt.Sprintf("%032x", g.i)
		outcome := []string{"ok", "noop", "refused", "ok"}[g.i%4]
		g.buf = fmt.Appendf(nil, `{"time":%q,"tool":"archive_run","tier":"lifecycle","org":"o","resource_type":"run","resource_id":%q,"resource_name":"Onboarding %d","outcome":"intent","confirm_mode":"auto","duration_ms":0,"caller":"c%d","session":"s%d"}`+"\n"+
			`{"time":%q,"tool":"archive_run","tier":"lifecycle","org":"o","resource_type":"run","resource_id":%q,"resource_name":"Onboarding %d","outcome":%q,"confirm_mode":"auto","duration_ms":12.5,"caller":"c%d","session":"s%d"}`+"\n",
			at, id, g.i, g.i%7, g.i%7, at, id, g.i, outcome, g.i%7, g.i%7)
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	g.left -= n
	return n, nil
}

// BenchmarkReportLargeLog streams a 256 MiB generated log per iteration (make bench;
// AUDIT_BENCH_MIB=1024 for the 1 GiB figure in docs/performance.md) and reports the largest live
// heap the garbage collector measured while it ran: memory stays flat whatever the log's size.
func BenchmarkReportLargeLog(b *testing.B) {
	size := 256 << 20
	if s := os.Getenv("AUDIT_BENCH_MIB"); s != "" {
		_, _ = fmt.Sscan(s, &size)
		size <<= 20
	}
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				metrics.Read(live)
				peak = max(peak, live[0].Value.Uint64())
			}
		}
	}()
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := Report([]Input{{Name: "gen", R: &generated{left: size}}}, Filter{}, FormatText, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	close(done)
	<-stopped
	b.ReportMetric(float64(peak)/(1<<20), "peak-live-heap-MiB")
}
