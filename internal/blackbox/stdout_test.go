package blackbox

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestStdoutIsOnlyJSONRPC drives the binary through every tool and every failure it can be
// made to meet, at debug level in both log formats and both protocol eras, and checks that
// stdout carried nothing but JSON-RPC 2.0 messages, one per line, that the logs went to
// stderr, and that stdin EOF ends the process with status 0.
func TestStdoutIsOnlyJSONRPC(t *testing.T) {
	t.Parallel()
	legacy := mcp.ProtocolVersion20251125
	scenarios := []scenario{
		{mode: modeAdmin, format: "text", protocol: legacy},
		{mode: modeAdmin, format: "json"},
		{mode: modeAdmin, format: "text", elicit: true},
		{mode: modeAdmin, format: "json", protocol: legacy, elicit: true},
		{mode: modeMember, format: "text"},
		{mode: modeMember, format: "json", protocol: legacy},
		{mode: modeUnauth, format: "text"},
		{mode: modeUnauth, format: "json", protocol: legacy},
		{mode: modeReadOnly, format: "text", protocol: legacy},
		{mode: modeReadOnly, format: "json"},
	}
	for _, sc := range scenarios {
		t.Run(sc.String(), func(t *testing.T) {
			t.Parallel()
			run := runScenario(t, sc)
			st := checkJSONRPCStream(t, run.stdout)
			if st.results == 0 {
				t.Errorf("no results on stdout")
			}
			if sc.elicit && sc.protocol != "" && st.requests == 0 {
				t.Errorf("legacy elicitation: no server-to-client request seen on stdout")
			}
			n := checkStderrLog(t, run.stderr, sc.format)
			if !bytes.Contains(run.stderr, []byte("serving MCP on stdio")) {
				t.Errorf("stderr lacks the startup log line")
			}
			// Every tools/call of a lifecycle or permanent tool, whatever became of it (done,
			// refused by policy, rejected arguments, failed), has one outcome record, and the
			// calls that acted an intent record before it.
			recs, intents := outcomeRecords(t, decodeAudit(t, run.audit))
			if intents == 0 && sc.mode == modeAdmin {
				t.Errorf("no intent records: the admin's changes were not audited before they were made")
			}
			if len(recs) != run.mutatingCalls {
				t.Errorf("%d audit records for %d lifecycle/permanent tool calls", len(recs), run.mutatingCalls)
			}
			for _, r := range recs {
				if r["tool"] == nil || r["outcome"] == nil || r["org"] != sandbox.OrgID {
					t.Errorf("audit record without tool/outcome/org: %v", r)
				}
			}
			t.Logf("stdout: %d lines (%d results, %d errors, %d requests, %d notifications); stderr: %d log lines",
				st.lines, st.results, st.errors, st.requests, st.notifications, n)
		})
	}

	t.Run("raw-malformed-input", func(t *testing.T) {
		t.Parallel()
		rawRun(t, "text", false)
		rawRun(t, "json", true)
	})
}

// rawRun writes JSON-RPC by hand, with garbage between the requests: a malformed JSON line,
// a blank line, a JSON value that is no request, invalid UTF-8. Every request must be
// answered and stdout must still hold only JSON-RPC.
func rawRun(t *testing.T, format string, closeAtOnce bool) {
	_, url := testkit.StartSandbox(t)
	cmd := exec.Command(harness.Path(), "--log-level", "debug", "--log-format", format)
	cmd.Env = harness.CleanEnv(sandboxEnv(url, sandbox.AdminToken))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := &harness.Buffer{}, &harness.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	input := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"`, // malformed: unterminated
		``, // blank
		`   `,
		`42`,
		`[1,2,3]`,
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"get_task\",\"arguments\":{\"task_id\":\"\xff\xfe\"}}}",
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"` + sandbox.IDs.ActiveRun + `"}}}`,
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"archive_run","arguments":{"run_id":"` + sandbox.IDs.ActiveRun + `/delete"}}}`,
		`not json at all`,
		`{"jsonrpc":"1.0","id":6,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":7,"method":"no/such/method"}`,
		`{"jsonrpc":"2.0","id":8,"method":"ping"}`,
	}, "\n") + "\n"
	if _, err := io.WriteString(stdin, input); err != nil {
		t.Fatal(err)
	}
	want := []string{"1", "3", "4", "5", "7", "8"}
	if !closeAtOnce {
		// Let every call be answered, then close stdin.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && len(answeredIDs(stdout.Bytes(), want)) < len(want) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Else EOF follows the last request at once: every request read before EOF must still be
	// answered before the process exits.
	_ = stdin.Close()
	// Wait's error only restates the exit status, which is read from ProcessState below.
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s: no exit within 30s of stdin EOF", format)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s: exit code %d on stdin EOF, want 0; stderr:\n%s", format, code, stderr.String())
	}
	out := stdout.Bytes()
	st := checkJSONRPCStream(t, out)
	if st.parseErrors == 0 {
		t.Errorf("%s: no -32700 parse error reply for the malformed lines", format)
	}
	if got := answeredIDs(out, want); len(got) != len(want) {
		t.Errorf("%s: answered %v of requests %v; stdout:\n%s", format, got, want, out)
	}
	checkStderrLog(t, stderr.Bytes(), format)
	t.Logf("%s: stdout %d lines (%d results, %d errors of which %d parse errors)", format, st.lines, st.results, st.errors, st.parseErrors)
}

// answeredIDs returns which of the ids have a response on stdout.
func answeredIDs(out []byte, ids []string) []string {
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && len(m.ID) > 0 && m.Method == "" {
			seen[string(m.ID)] = true
		}
	}
	var got []string
	for _, id := range ids {
		if seen[id] {
			got = append(got, id)
		}
	}
	return got
}
