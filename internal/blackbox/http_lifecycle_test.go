package blackbox

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestBinarySIGTERM: the real binary, SIGTERM during an in-flight call over HTTP: the call
// completes and the process exits 0.
func TestBinarySIGTERM(t *testing.T) {
	t.Parallel()
	sb := testkit.NewSpySandbox(t)
	sb.SetFaults(sandbox.Fault{Kind: "latency", Param: "800ms", Method: "DELETE"})
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	b := runBinary(t, []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.AdminToken},
		"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sb.URL, "--org-id", sandbox.OrgID, "--audit-log", audit)
	url := b.ListenURL(t)
	testkit.WaitHealthy(t, http.DefaultClient, url)
	c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy})
	t.Cleanup(func() { _ = c.Close() })
	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := testkit.Call(context.Background(), c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun})
		done <- outcome{res, err}
	}()
	testkit.Eventually(t, 5*time.Second, "the call to reach Tallyfy", func() bool { return sb.InFlight() == 1 })
	if err := b.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.res.IsError {
		t.Fatalf("in-flight call across SIGTERM: %v %v", o.err, o.res)
	}
	if code := b.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, b.Stderr.String())
	}
	if r, _ := sb.Lookup("run", sandbox.IDs.ActiveRun); !r.Archived {
		t.Fatal("not archived")
	}
	if recs := testkit.AuditRecords(t, audit); len(recs) != 2 || recs[0].Outcome != "intent" || recs[1].Outcome != "ok" || recs[1].Transport != "streamable-http" {
		t.Fatalf("audit: %+v", recs)
	}
}

var servingLine = regexp.MustCompile(`streamable=http://([^/ ]+)/mcp`)

// TestBinaryRefusesUnsafeHTTP: the same refusals through the binary (exit 1 with the reason),
// and a non-loopback bind with a token and --insecure-http starts and requires the token.
func TestBinaryRefusesUnsafeHTTP(t *testing.T) {
	t.Parallel()
	const token = "binary-caller-token-93b1"
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, nil, "--auth-token"},
		{[]string{"--addr", "0.0.0.0:0", "--auth-token", token}, nil, "--insecure-http"},
		{[]string{"--addr", "0.0.0.0:0"}, []string{"MCP_AUTH_TOKEN=" + token}, "--tls-cert and --tls-key, or --insecure-http"},
		{[]string{"--addr", "127.0.0.1:0", "--tls-cert", "x.pem"}, nil, "--tls-cert and --tls-key go together"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			b := runBinary(t, tc.env, append([]string{"--sandbox", "--transport", "http"}, tc.args...)...)
			if code := b.Wait(t, 10*time.Second); code == 0 {
				t.Fatalf("started: %s", b.Stderr.String())
			}
			if !strings.Contains(b.Stderr.String(), tc.want) {
				t.Fatalf("stderr does not say %q:\n%s", tc.want, b.Stderr.String())
			}
			if strings.Contains(b.Stderr.String(), token) {
				t.Fatal("stderr shows the auth token")
			}
		})
	}
	t.Run("insecure-http starts", func(t *testing.T) {
		t.Parallel()
		b := runBinary(t, []string{"MCP_AUTH_TOKEN=" + token}, "--sandbox", "--transport", "http", "--addr", "0.0.0.0:0", "--insecure-http")
		var hostport string
		testkit.Eventually(t, 10*time.Second, "the serving log line", func() bool {
			m := servingLine.FindStringSubmatch(b.Stderr.String())
			if m != nil {
				hostport = m[1]
			}
			return m != nil
		})
		_, port, _ := net.SplitHostPort(hostport)
		url := "http://127.0.0.1:" + port
		if s, _, _ := testkit.RawPost(t, url+"/mcp", testkit.InitBody, nil); s != http.StatusUnauthorized {
			t.Fatalf("without the token: %d", s)
		}
		c := testkit.ConnectHTTP(t, testkit.Streamable, url, testkit.ClientOpts{Era: testkit.Legacy, Headers: map[string]string{"Authorization": "Bearer " + token}})
		if res := testkit.MustCall(t, testkit.Context(t, 10*time.Second), c, "list_runs", nil); res.IsError {
			t.Fatal(testkit.Text(res))
		}
		_ = c.Close()
		_ = b.Cmd.Process.Signal(syscall.SIGTERM)
		if code := b.Wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if strings.Contains(b.Stderr.String(), token) {
			t.Fatal("stderr shows the auth token")
		}
	})
}
