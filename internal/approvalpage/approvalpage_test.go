// Package approvalpage tests the approval page (issue 21 points 3-6) through the built binary,
// driven in headless Chromium (chromedp and the Debian chromium): on stdio, the loopback page
// whose link only stderr and the browser get; on HTTP, /approve/{id} with the per-caller
// passphrase and the two-person rule; and the signed approval records `approvals verify`
// checks.
package approvalpage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/redistest"
	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestMain(m *testing.M) { harness.Main(m) }

const chromium = "/usr/bin/chromium"

// browser is a fresh headless Chromium (its own profile), closed with the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("headless Chromium is needed (Debian package chromium, at %s): %v", chromium, err)
	}
	// A fresh profile, removed after Chromium has exited (its helpers may still be writing
	// when the browser context is cancelled, which t.TempDir's cleanup would report).
	profile, err := os.MkdirTemp("", "approvalpage-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun, chromedp.Flag("disable-sync", true), chromedp.WindowSize(420, 900), // a phone's width
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// pageText is the visible text of the page's body.
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	var s string
	if err := chromedp.Run(ctx, chromedp.Text("main", &s, chromedp.ByQuery)); err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return s
}

// submit fills the form's fields (id -> value) and presses a button (approve or decline).
func submit(t *testing.T, ctx context.Context, fields map[string]string, button string) string {
	t.Helper()
	var actions []chromedp.Action
	for id, v := range fields {
		actions = append(actions, chromedp.SetValue("#"+id, v, chromedp.ByID))
	}
	actions = append(actions, chromedp.Click("#"+button, chromedp.ByID), chromedp.WaitVisible("main", chromedp.ByQuery))
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("submitting the form: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the navigation after the POST
	if err := chromedp.Run(ctx, chromedp.WaitReady("body", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	return pageText(t, ctx)
}

func open(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.WaitReady("main", chromedp.ByQuery)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	return pageText(t, ctx)
}

// screenshot takes a full-page PNG of the page shown. With UPDATE_SCREENSHOTS=true it is
// written to docs/NAME (the README shows it); otherwise only checked to be a PNG.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n")) || len(png) < 10_000 {
		t.Fatalf("screenshot %s: not a PNG of a rendered page (%d bytes)", name, len(png))
	}
	if os.Getenv("UPDATE_SCREENSHOTS") == "true" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func contains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// approvalKeyFile writes a fresh Ed25519 key as PKCS#8 PEM.
func approvalKeyFile(t *testing.T) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "approval.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verify runs `tallyfy-mcp approvals verify` on an audit log.
func verify(t *testing.T, keyFile, audit string) (string, int) {
	t.Helper()
	cmd := exec.Command(harness.Path(), "approvals", "verify", "--approval-key-file", keyFile, audit)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func call(t *testing.T, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, string) {
	t.Helper()
	res := testkit.MustCall(t, testkit.Context(t, 60*time.Second), c, name, args)
	return res, testkit.Text(res)
}

func status(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	s, _ := testkit.Field(testkit.Structured(t, res), "status").(string)
	return s
}

// link is the approval link the binary wrote to stderr for the local person.
var link = regexp.MustCompile(`link=(http://127\.0\.0\.1:\d+/approve/([0-9a-f]+)/([0-9a-f]{64}))`)

// stdioServer is the binary on stdio against its own sandbox, whose browser command records
// nothing (the test's Chromium opens the link from stderr).
type stdioServer struct {
	sb     *sandbox.Sandbox
	proc   *harness.Proc
	audit  string
	key    string
	client *client.Client
}

func startStdio(t *testing.T, era testkit.Era, elicit client.ElicitationHandler, extra ...string) *stdioServer {
	t.Helper()
	sb, url := testkit.StartSandbox(t)
	s := &stdioServer{sb: sb, audit: testkit.AuditPath(t), key: approvalKeyFile(t)}
	args := append([]string{"--approval-browser", "true", "--audit-log", s.audit, "--approval-key-file", s.key}, extra...)
	s.proc = harness.Start(t, harness.Config{Args: args, Env: map[string]string{"TALLYFY_ACCESS_TOKEN": sandbox.AdminToken, "TALLYFY_ORG_ID": sandbox.OrgID,
		"TALLYFY_BASE_URL": url, "TALLYFY_RATE": "0"}, Protocol: era.Version, Elicit: elicit})
	s.client = s.proc.Client
	return s
}

// linkFor waits for the stderr line of approval id.
func (s *stdioServer) linkFor(t *testing.T, id string) string {
	t.Helper()
	var url string
	testkit.Eventually(t, 10*time.Second, "the approval link on stderr", func() bool {
		for _, m := range link.FindAllStringSubmatch(s.proc.Stderr.String(), -1) {
			if m[2] == id {
				url = m[1]
				return true
			}
		}
		return false
	})
	return url
}

func (s *stdioServer) exists(kind, id string) bool {
	_, ok := s.sb.Lookup(kind, id)
	return ok
}

// TestStdioApprovalPage: with a client that has neither Apps nor elicitation, on both
// protocol versions, a permanent delete on stdio waits for the person on the local page: the
// first call answers approval_pending with no link in it; the link reaches stderr only; a
// call before the person decides says still waiting; approving (name typed) deletes on the
// next call, which says approval_page and the local user; `approvals verify` passes.
func TestStdioApprovalPage(t *testing.T) {
	for _, era := range testkit.Eras {
		t.Run(era.Name, func(t *testing.T) {
			s := startStdio(t, era, nil)
			run := sandbox.IDs.ArchivedRun
			args := map[string]any{"run_id": run}
			res, text := call(t, s.client, "delete_run", args)
			if status(t, res) != "approval_pending" || res.IsError {
				t.Fatalf("first call: %s", text)
			}
			id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
			url := s.linkFor(t, id)
			secret := url[strings.LastIndex(url, "/")+1:]
			if all := s.proc.AllResults(); strings.Contains(all, secret) || strings.Contains(all, "127.0.0.1") || strings.Contains(all, "http://") {
				t.Fatalf("a tool result carries the link or its secret: %s", all)
			}
			contains(t, "first call", text, "approval page", "Nothing deleted yet", "call delete_run again")
			if _, text = call(t, s.client, "delete_run", args); !strings.Contains(text, "Still waiting") {
				t.Fatalf("second call before the person decided: %s", text)
			}
			if !s.exists("run", run) {
				t.Fatal("deleted before approval")
			}

			ctx := browser(t)
			page := open(t, ctx, url)
			contains(t, "page", page, "Onboarding - Sam Patel", "archived", "cannot be undone", "Delete 1 item", "Cancel")
			if era == testkit.Legacy {
				screenshot(t, ctx, "approval-page-single.png")
			}
			name, _ := s.sb.Lookup("run", run)
			page = submit(t, ctx, map[string]string{"confirm": name.Name}, "approve")
			contains(t, "after approving", page, "Approved by")

			res, text = call(t, s.client, "delete_run", args)
			m := testkit.Structured(t, res)
			if status(t, res) != "deleted" || m["confirmation"] != "approval_page" || m["confirmed_by"] == "" || m["approval_id"] != id {
				t.Fatalf("after approval: %s", text)
			}
			if s.exists("run", run) {
				t.Fatal("the approved run is still there")
			}
			// The link works once: the request is decided, the page shows no form.
			page = open(t, ctx, url)
			contains(t, "replayed link", page, "Approved by")
			var forms int
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("form").length`, &forms))
			if forms != 0 {
				t.Fatal("a decided request still shows its form")
			}
			// A link with a wrong secret shows nothing of the request.
			page = open(t, ctx, url[:len(url)-64]+strings.Repeat("0", 64))
			contains(t, "wrong secret", page, "No such approval request")
			if strings.Contains(page, "Sam Patel") {
				t.Fatal("a wrong secret showed the request")
			}
			out, code := verify(t, s.key, s.audit)
			if code != 0 || !strings.Contains(out, "0 problems") {
				t.Fatalf("approvals verify (exit %d):\n%s", code, out)
			}
			// Stderr carries the link (for the local person) but the audit log does not.
			b, _ := os.ReadFile(s.audit)
			if strings.Contains(string(b), secret) {
				t.Fatal("the audit log carries the link's secret")
			}
		})
	}
}

// TestStdioDeclineWrongNameAndCSRF: declining deletes nothing and the next call says so; a
// wrong name approves nothing; a form posted from another site is refused.
func TestStdioDeclineWrongNameAndCSRF(t *testing.T) {
	s := startStdio(t, testkit.Legacy, nil)
	tmpl := sandbox.IDs.ArchivedTemplate
	args := map[string]any{"template_id": tmpl}
	res, _ := call(t, s.client, "delete_template", args)
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	url := s.linkFor(t, id)
	ctx := browser(t)
	open(t, ctx, url)
	page := submit(t, ctx, map[string]string{"confirm": "not the name"}, "approve")
	contains(t, "wrong name", page, "does not match", "Nothing was approved")
	if _, text := call(t, s.client, "delete_template", args); !strings.Contains(text, "Still waiting") {
		t.Fatalf("after a wrong name: %s", text)
	}

	// CSRF: another site's page posts the form to the link (even knowing it): refused.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action=%q><input name=decision value=approve><input name=confirm value="Legacy Expense Report (2023)"><input name=csrf value=guess></form><script>document.getElementById("f").submit()</script>`, url)
	}))
	defer evil.Close()
	if err := chromedp.Run(ctx, chromedp.Navigate(evil.URL), chromedp.Sleep(time.Second), chromedp.WaitReady("main", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	contains(t, "cross-site post", pageText(t, ctx), "did not come from this page")
	if _, text := call(t, s.client, "delete_template", args); !strings.Contains(text, "Still waiting") {
		t.Fatalf("after the CSRF attempt: %s", text)
	}

	open(t, ctx, url)
	page = submit(t, ctx, nil, "decline")
	contains(t, "declined", page, "Declined by")
	res, text := call(t, s.client, "delete_template", args)
	if status(t, res) != "cancelled" || !strings.Contains(text, "declined") {
		t.Fatalf("after decline: %s", text)
	}
	if !s.exists("template", tmpl) {
		t.Fatal("a declined delete deleted the template")
	}
}

// TestStdioBulkApproval: a bulk delete waits for the count on the page, then runs once.
func TestStdioBulkApproval(t *testing.T) {
	s := startStdio(t, testkit.Modern, nil)
	ids := []any{sandbox.IDs.ArchivedRun}
	call(t, s.client, "bulk_archive", map[string]any{"type": "run", "ids": []any{sandbox.IDs.CompleteRun}})
	res, text := call(t, s.client, "bulk_archive", map[string]any{"type": "run", "ids": []any{sandbox.IDs.CompleteRun}})
	if exec, ok := testkit.Field(testkit.Structured(t, res), "execute", "arguments").(map[string]any); ok {
		call(t, s.client, "bulk_archive", exec)
	} else {
		t.Fatalf("bulk_archive plan: %s", text)
	}
	ids = append(ids, sandbox.IDs.CompleteRun)
	res, text = call(t, s.client, "bulk_delete", map[string]any{"type": "run", "ids": ids})
	exec, ok := testkit.Field(testkit.Structured(t, res), "execute", "arguments").(map[string]any)
	if !ok {
		t.Fatalf("bulk_delete plan: %s", text)
	}
	res, text = call(t, s.client, "bulk_delete", exec)
	if status(t, res) != "approval_pending" {
		t.Fatalf("execute: %s", text)
	}
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	ctx := browser(t)
	page := open(t, ctx, s.linkFor(t, id))
	contains(t, "bulk page", page, "2 processes", "Delete 2 items", "type the number of items")
	screenshot(t, ctx, "approval-page-bulk.png")
	page = submit(t, ctx, map[string]string{"confirm": "3"}, "approve")
	contains(t, "wrong count", page, "not the 2 items")
	page = submit(t, ctx, map[string]string{"confirm": "2"}, "approve")
	contains(t, "approved", page, "Approved by")
	res, text = call(t, s.client, "bulk_delete", exec)
	m := testkit.Structured(t, res)
	if m["status"] != "done" || m["confirmation"] != "approval_page" || testkit.Field(m, "totals", "ok") != float64(2) {
		t.Fatalf("after approval: %s", text)
	}
	if s.exists("run", sandbox.IDs.ArchivedRun) || s.exists("run", sandbox.IDs.CompleteRun) {
		t.Fatal("approved runs still there")
	}
	if _, text = call(t, s.client, "bulk_delete", exec); !strings.Contains(text, "already used") {
		t.Fatalf("replayed plan: %s", text)
	}
	if out, code := verify(t, s.key, s.audit); code != 0 {
		t.Fatalf("approvals verify (exit %d):\n%s", code, out)
	}
}

// TestStdioChannelOrder: a client that declares elicitation is asked in the client (not the
// page), on both protocol versions; --confirm token keeps the token flow and the audit says
// token; approvals verify names a tampered record and a delete under --confirm off.
func TestStdioChannelOrder(t *testing.T) {
	for _, era := range testkit.Eras {
		t.Run(era.Name, func(t *testing.T) {
			answer := elicitor(func(req mcp.ElicitationRequest) *mcp.ElicitationResult {
				return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: mcp.ElicitationResponseActionAccept,
					Content: map[string]any{"name": "Onboarding - Sam Patel (offer withdrawn)"}}}
			})
			s := startStdio(t, era, answer)
			res, text := call(t, s.client, "delete_run", map[string]any{"run_id": sandbox.IDs.ArchivedRun})
			if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmation"] != "elicitation" {
				t.Fatalf("elicitation client: %s", text)
			}
			if strings.Contains(s.proc.Stderr.String(), "/approve/") {
				t.Fatal("an elicitation client got the approval page")
			}
		})
	}
	t.Run("token", func(t *testing.T) {
		s := startStdio(t, testkit.Legacy, nil, "--confirm", "token")
		res, _ := call(t, s.client, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
		tok, _ := testkit.Field(testkit.Structured(t, res), "confirm_token").(string)
		res, text := call(t, s.client, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask, "confirm_token": tok})
		if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmation"] != "token" {
			t.Fatalf("token: %s", text)
		}
		if out, code := verify(t, s.key, s.audit); code != 0 {
			t.Fatalf("approvals verify (exit %d):\n%s", code, out)
		}
		// Tamper with the approval record: verify names it and exits 1.
		b, _ := os.ReadFile(s.audit)
		tampered := strings.Replace(string(b), `"channel":"token"`, `"channel":"approval_page"`, 1)
		if tampered == string(b) {
			t.Fatal("no approval record to tamper with")
		}
		bad := filepath.Join(t.TempDir(), "tampered.jsonl")
		_ = os.WriteFile(bad, []byte(tampered), 0o600)
		out, code := verify(t, s.key, bad)
		if code != 1 || !strings.Contains(out, "altered") || !strings.Contains(out, sandbox.IDs.ArchivedTask) {
			t.Fatalf("tampered log (exit %d):\n%s", code, out)
		}
	})
	t.Run("off", func(t *testing.T) {
		s := startStdio(t, testkit.Legacy, nil, "--confirm", "off")
		res, text := call(t, s.client, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
		if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmation"] != "off" {
			t.Fatalf("off: %s", text)
		}
		out, code := verify(t, s.key, s.audit)
		if code != 1 || !strings.Contains(out, "confirmation was off") {
			t.Fatalf("a delete under --confirm off (exit %d):\n%s", code, out)
		}
	})
}

type elicitor func(mcp.ElicitationRequest) *mcp.ElicitationResult

func (e elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return e(req), nil
}

// httpServer is the binary on HTTP with a callers file: alice (passphrase, her deletes need
// bob under the two-person rule), bob (passphrase), carol (passphrase, no rule), dave (no
// passphrase).
type httpServer struct {
	sb    *sandbox.Sandbox
	url   string
	audit string
	key   string
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func startHTTP(t *testing.T, extra ...string) *httpServer {
	t.Helper()
	sb, sbURL := testkit.StartSandbox(t)
	return startHTTPOn(t, sb, sbURL, writeTeam(t), approvalKeyFile(t), extra...)
}

// writeTeam writes the callers file of the HTTP tests.
func writeTeam(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "callers.json")
	entry := func(name string, more map[string]any) map[string]any {
		e := map[string]any{"name": name, "token_sha256": testkit.TokenSHA256("tok-" + name), "tallyfy_token_env": "SHARED_TALLYFY"}
		for k, v := range more {
			e[k] = v
		}
		return e
	}
	testkit.WriteCallers(t, file,
		entry("alice", map[string]any{"approval_passphrase_sha256": sha("alice pass"), "require_approval": "permanent", "approvers": []string{"bob"}}),
		entry("bob", map[string]any{"approval_passphrase_sha256": sha("bob pass")}),
		entry("carol", map[string]any{"approval_passphrase_sha256": sha("carol pass")}),
		entry("dave", nil),
		entry("erin", map[string]any{"require_approval": "lifecycle", "approvers": []string{"bob"}}))
	return file
}

// startHTTPOn starts one HTTP server on the sandbox at sbURL with the callers file and
// approval key given (replicas share all three).
func startHTTPOn(t *testing.T, sb *sandbox.Sandbox, sbURL, file, key string, extra ...string) *httpServer {
	t.Helper()
	s := &httpServer{sb: sb, audit: testkit.AuditPath(t), key: key}
	args := append([]string{"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", sbURL, "--org-id", sandbox.OrgID, "--callers", file,
		"--audit-log", s.audit, "--approval-key-file", s.key, "--tallyfy-rate", "0"}, extra...)
	b := harness.Run(t, harness.MinimalEnv(t, "SHARED_TALLYFY="+sandbox.AdminToken), args...)
	s.url = b.ListenURL(t)
	return s
}

func (s *httpServer) client(t *testing.T, who string, era testkit.Era) *client.Client {
	t.Helper()
	c := testkit.ConnectHTTP(t, testkit.Streamable, s.url, testkit.ClientOpts{Era: era, Headers: map[string]string{"Authorization": "Bearer tok-" + who}})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestHTTPApprovalPagePassphrase: over HTTP, carol (no two-person rule) deletes with her own
// approval on /approve/{id}: another caller's login (bob) is refused, a wrong passphrase is
// refused, hers approves; the result names carol. Dave, with no passphrase and a client with
// neither Apps nor elicitation, is told which channels would work, and nothing is deleted;
// both protocol versions.
func TestHTTPApprovalPagePassphrase(t *testing.T) {
	for _, era := range testkit.Eras {
		t.Run(era.Name, func(t *testing.T) {
			s := startHTTP(t)
			carol := s.client(t, "carol", era)
			args := map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}
			res, text := call(t, carol, "delete_template", args)
			if status(t, res) != "approval_pending" {
				t.Fatalf("first call: %s", text)
			}
			id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
			contains(t, "first call", text, "/approve/"+id, "passphrase")
			ctx := browser(t)
			open(t, ctx, s.url+"/approve/"+id)
			page := submit(t, ctx, map[string]string{"approver": "bob", "passphrase": "bob pass", "confirm": "Legacy Expense Report (2023)"}, "approve")
			contains(t, "another caller", page, "may not decide")
			page = submit(t, ctx, map[string]string{"approver": "carol", "passphrase": "wrong", "confirm": "Legacy Expense Report (2023)"}, "approve")
			contains(t, "wrong passphrase", page, "do not match")
			if _, text := call(t, carol, "delete_template", args); !strings.Contains(text, "Still waiting") {
				t.Fatalf("before approval: %s", text)
			}
			page = submit(t, ctx, map[string]string{"approver": "carol", "passphrase": "carol pass", "confirm": "Legacy Expense Report (2023)"}, "approve")
			contains(t, "approved", page, "Approved by carol")
			res, text = call(t, carol, "delete_template", args)
			if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmation"] != "approval_page" || m["confirmed_by"] != "carol" {
				t.Fatalf("after approval: %s", text)
			}

			dave := s.client(t, "dave", era)
			res, text = call(t, dave, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
			if !res.IsError {
				t.Fatalf("dave without a login: %s", text)
			}
			contains(t, "no channel", text, "neither MCP Apps nor elicitation", "approval_passphrase_sha256", "--confirm-allow-token")
			if _, ok := s.sb.Lookup("task", sandbox.IDs.ArchivedTask); !ok {
				t.Fatal("deleted without any confirmation")
			}
			if out, code := verify(t, s.key, s.audit); code != 0 {
				t.Fatalf("approvals verify (exit %d):\n%s", code, out)
			}
		})
	}
}

// TestHTTPTwoPersonRule: alice's deletes need bob: her own approval is refused as
// self-approval; bob's is taken, and the delete says bob.
func TestHTTPTwoPersonRule(t *testing.T) {
	s := startHTTP(t)
	alice := s.client(t, "alice", testkit.Legacy)
	args := map[string]any{"run_id": sandbox.IDs.ArchivedRun}
	res, text := call(t, alice, "delete_run", args)
	if status(t, res) != "approval_pending" || !strings.Contains(text, "second person") {
		t.Fatalf("first call: %s", text)
	}
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	ctx := browser(t)
	open(t, ctx, s.url+"/approve/"+id)
	page := submit(t, ctx, map[string]string{"approver": "alice", "passphrase": "alice pass", "confirm": "Onboarding - Sam Patel (offer withdrawn)"}, "approve")
	contains(t, "self-approval", page, "self-approval is refused")
	if _, text := call(t, alice, "delete_run", args); !strings.Contains(text, "Still waiting") {
		t.Fatalf("after self-approval: %s", text)
	}
	page = submit(t, ctx, map[string]string{"approver": "bob", "passphrase": "bob pass", "confirm": "Onboarding - Sam Patel (offer withdrawn)"}, "approve")
	contains(t, "bob approves", page, "Approved by bob")
	res, text = call(t, alice, "delete_run", args)
	if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmed_by"] != "bob" {
		t.Fatalf("after bob's approval: %s", text)
	}
	recs := testkit.AuditRecords(t, s.audit)
	found := false
	for _, r := range recs {
		if r.Approval != nil && r.Approval.Approver == "bob" && r.Approval.Caller == "alice" && r.Approval.Outcome == "approved" {
			found = true
		}
	}
	if !found {
		t.Fatal("no signed approval record of bob approving alice's request")
	}
}

// TestHTTPHonestDefaults: without a login the token flow is there only when the operator
// turns it on, and the audit then says token.
func TestHTTPHonestDefaults(t *testing.T) {
	for _, era := range testkit.Eras {
		t.Run(era.Name, func(t *testing.T) {
			s := startHTTP(t, "--confirm-allow-token")
			dave := s.client(t, "dave", era)
			res, text := call(t, dave, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask})
			tok, _ := testkit.Field(testkit.Structured(t, res), "confirm_token").(string)
			if tok == "" {
				t.Fatalf("--confirm-allow-token: no token: %s", text)
			}
			res, text = call(t, dave, "delete_task", map[string]any{"task_id": sandbox.IDs.ArchivedTask, "confirm_token": tok})
			if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmation"] != "token" {
				t.Fatalf("token delete: %s", text)
			}
			for _, r := range testkit.AuditRecords(t, s.audit) {
				if r.Outcome == "ok" && r.Confirmation != "token" {
					t.Fatalf("audit of a token delete says %q", r.Confirmation)
				}
			}
		})
	}
}

// TestStdioExpiredLink: a link opened after --approval-timeout shows the request expired and
// no form, and a post of the form shown before it expired decides nothing; the next call asks
// afresh, with a new link.
func TestStdioExpiredLink(t *testing.T) {
	s := startStdio(t, testkit.Legacy, nil, "--approval-timeout", "3s")
	args := map[string]any{"task_id": sandbox.IDs.ArchivedTask}
	res, _ := call(t, s.client, "delete_task", args)
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	url := s.linkFor(t, id)
	ctx := browser(t)
	open(t, ctx, url)
	time.Sleep(3500 * time.Millisecond)
	page := submit(t, ctx, map[string]string{"confirm": "Collect holiday party headcount (2025)"}, "approve")
	contains(t, "a form posted after expiry", page, "expired")
	page = open(t, ctx, url)
	contains(t, "an expired link", page, "has expired")
	var forms int
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("form").length`, &forms))
	if forms != 0 {
		t.Fatal("an expired request still shows its form")
	}
	res, text := call(t, s.client, "delete_task", args)
	next, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	if status(t, res) != "approval_pending" || next == id || strings.Contains(text, "Still waiting") {
		t.Fatalf("after expiry: %s", text)
	}
	if !s.exists("task", sandbox.IDs.ArchivedTask) {
		t.Fatal("an expired approval deleted the task")
	}
}

// TestHTTPPassphraseRateLimited: after 5 wrong passphrases for a caller within 15 minutes even
// the right one is refused, so a passphrase cannot be guessed by trying.
func TestHTTPPassphraseRateLimited(t *testing.T) {
	s := startHTTP(t)
	carol := s.client(t, "carol", testkit.Modern)
	res, _ := call(t, carol, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate})
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	ctx := browser(t)
	open(t, ctx, s.url+"/approve/"+id)
	for i := range 5 {
		page := submit(t, ctx, map[string]string{"approver": "carol", "passphrase": fmt.Sprintf("guess %d", i), "confirm": "Legacy Expense Report (2023)"}, "approve")
		contains(t, "a wrong passphrase", page, "do not match")
	}
	page := submit(t, ctx, map[string]string{"approver": "carol", "passphrase": "carol pass", "confirm": "Legacy Expense Report (2023)"}, "approve")
	contains(t, "the sixth try", page, "too many tries")
	if _, ok := s.sb.Lookup("template", sandbox.IDs.ArchivedTemplate); !ok {
		t.Fatal("deleted")
	}
	if _, text := call(t, carol, "delete_template", map[string]any{"template_id": sandbox.IDs.ArchivedTemplate}); !strings.Contains(text, "Still waiting") {
		t.Fatalf("after the refused tries: %s", text)
	}
}

// TestHTTPTwoPersonRuleForBulkArchive: "require_approval": "lifecycle" holds erin's bulk
// archive for bob too: the execute call waits, bob approves the count on the page (worded as
// an archive), and the plan runs once.
func TestHTTPTwoPersonRuleForBulkArchive(t *testing.T) {
	s := startHTTP(t)
	erin := s.client(t, "erin", testkit.Modern)
	ids := []any{sandbox.IDs.ActiveRun, sandbox.IDs.CompleteRun}
	res, text := call(t, erin, "bulk_archive", map[string]any{"type": "run", "ids": ids})
	exec, ok := testkit.Field(testkit.Structured(t, res), "execute", "arguments").(map[string]any)
	if !ok {
		t.Fatalf("plan: %s", text)
	}
	res, text = call(t, erin, "bulk_archive", exec)
	if status(t, res) != "approval_pending" || !strings.Contains(text, "second person") {
		t.Fatalf("execute under the rule: %s", text)
	}
	if r, _ := s.sb.Lookup("run", sandbox.IDs.ActiveRun); r.Archived {
		t.Fatal("archived before approval")
	}
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	ctx := browser(t)
	page := open(t, ctx, s.url+"/approve/"+id)
	contains(t, "archive page", page, "will be archived", "can be undone", "Archive 2 items")
	if strings.Contains(page, "destroyed") {
		t.Fatalf("an archive worded as a destruction:\n%s", page)
	}
	page = submit(t, ctx, map[string]string{"approver": "bob", "passphrase": "bob pass", "confirm": "2"}, "approve")
	contains(t, "bob approves", page, "Approved by bob")
	res, text = call(t, erin, "bulk_archive", exec)
	if m := testkit.Structured(t, res); m["status"] != "done" || testkit.Field(m, "totals", "ok") != float64(2) || m["confirmed_by"] != "bob" {
		t.Fatalf("after approval: %s", text)
	}
	if r, _ := s.sb.Lookup("run", sandbox.IDs.ActiveRun); !r.Archived {
		t.Fatal("the approved archive did not happen")
	}
}

// TestHTTPReplicasSharePendingApprovals: two replicas sharing Redis (and their keys): carol's
// delete parked on replica A is approved on replica B's page, and her next call on A deletes.
func TestHTTPReplicasSharePendingApprovals(t *testing.T) {
	redis := redistest.Start(t)
	sb, sbURL := testkit.StartSandbox(t)
	file, key := writeTeam(t), approvalKeyFile(t)
	confirmKey := filepath.Join(t.TempDir(), "confirm.key")
	if err := os.WriteFile(confirmKey, []byte(strings.Repeat("k", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := []string{"--state", redis.URL(0), "--confirm-key-file", confirmKey}
	a := startHTTPOn(t, sb, sbURL, file, key, shared...)
	b := startHTTPOn(t, sb, sbURL, file, key, shared...)
	carol := a.client(t, "carol", testkit.Legacy)
	args := map[string]any{"task_id": sandbox.IDs.ArchivedTask}
	res, text := call(t, carol, "delete_task", args)
	if status(t, res) != "approval_pending" {
		t.Fatalf("on A: %s", text)
	}
	id, _ := testkit.Field(testkit.Structured(t, res), "approval_id").(string)
	ctx := browser(t)
	page := open(t, ctx, b.url+"/approve/"+id)
	contains(t, "the request on B", page, "Collect holiday party headcount")
	page = submit(t, ctx, map[string]string{"approver": "carol", "passphrase": "carol pass", "confirm": "Collect holiday party headcount (2025)"}, "approve")
	contains(t, "approved on B", page, "Approved by carol")
	res, text = call(t, carol, "delete_task", args)
	if m := testkit.Structured(t, res); m["status"] != "deleted" || m["confirmed_by"] != "carol" {
		t.Fatalf("back on A: %s", text)
	}
	if _, ok := sb.Lookup("task", sandbox.IDs.ArchivedTask); ok {
		t.Fatal("the task is still there")
	}
}
