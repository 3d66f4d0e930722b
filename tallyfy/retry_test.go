package tallyfy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// Retries by call class, Retry-After, MaxTries, the caller's context and the per-attempt
// timeout. Sandbox fault injection where it fits, stubs otherwise.

// sbCall is one call against the seeded sandbox, with the id it acts on.
type sbCall struct {
	name string
	call func(ctx context.Context, c *Client) error
}

func safeCalls() []sbCall {
	ID := sandbox.IDs
	return []sbCall{
		{"GetTask", func(ctx context.Context, c *Client) error { return discard(c.GetTask(ctx, ID.LiveTask)) }},
		{"GetRun", func(ctx context.Context, c *Client) error { return discard(c.GetRun(ctx, ID.ActiveRun)) }},
		{"GetTemplate", func(ctx context.Context, c *Client) error { return discard(c.GetTemplate(ctx, ID.LiveTemplate)) }},
		{"ListTasks", func(ctx context.Context, c *Client) error { return discard(c.ListTasks(ctx, ListOptions{})) }},
		{"ListRuns", func(ctx context.Context, c *Client) error { return discard(c.ListRuns(ctx, ListOptions{})) }},
		{"ListTemplates", func(ctx context.Context, c *Client) error { return discard(c.ListTemplates(ctx, ListOptions{})) }},
		{"ArchiveTask", func(ctx context.Context, c *Client) error { return c.ArchiveTask(ctx, ID.LiveTask) }},
		{"RestoreTask", func(ctx context.Context, c *Client) error { return discard(c.RestoreTask(ctx, ID.ArchivedTask)) }},
		{"ArchiveRun", func(ctx context.Context, c *Client) error { return discard(c.ArchiveRun(ctx, ID.ActiveRun)) }},
		{"ActivateRun", func(ctx context.Context, c *Client) error { return discard(c.ActivateRun(ctx, ID.ArchivedRun)) }},
		{"ArchiveTemplate", func(ctx context.Context, c *Client) error { return discard(c.ArchiveTemplate(ctx, ID.LiveTemplate)) }},
		{"RestoreTemplate", func(ctx context.Context, c *Client) error {
			return discard(c.RestoreTemplate(ctx, ID.ArchivedTemplate))
		}},
	}
}

// deleteCall is a permanent delete of a seeded archived record.
type deleteCall struct {
	name, kind, id string
	call           func(ctx context.Context, c *Client) error
}

func deleteCalls() []deleteCall {
	ID := sandbox.IDs
	return []deleteCall{
		{"DeleteTask", "task", ID.ArchivedTask, func(ctx context.Context, c *Client) error { return c.DeleteTask(ctx, ID.ArchivedTask) }},
		{"DeleteRun", "run", ID.ArchivedRun, func(ctx context.Context, c *Client) error { return c.DeleteRun(ctx, ID.ArchivedRun) }},
		{"DeleteTemplate", "template", ID.ArchivedTemplate, func(ctx context.Context, c *Client) error {
			return discard(c.DeleteTemplate(ctx, ID.ArchivedTemplate))
		}},
	}
}

// TestSafeCallsRetry: reads and archive/restore/activate retry 429, 502, 503, 504 and
// connection resets, then succeed; OnRetry hears of each retry.
func TestSafeCallsRetry(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"429=0#2", "502#2", "503#2", "504#2", "reset-before#2"} {
		for _, sc := range safeCalls() {
			t.Run(spec+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				env := startSandbox(t)
				env.setFaults(t, spec)
				var rl retryLog
				if err := sc.call(context.Background(), env.admin(t, withRetryLog(&rl))); err != nil {
					t.Fatalf("error after retries: %v", err)
				}
				if n := env.sb.Requests(); n != 3 {
					t.Errorf("%d requests, want 3", n)
				}
				calls := rl.get()
				if len(calls) != 2 {
					t.Fatalf("OnRetry called %d times, want 2", len(calls))
				}
				for i, rc := range calls {
					if rc.attempt != i+1 || rc.err == nil || !strings.HasPrefix(rc.path, "/organizations/"+sandbox.OrgID+"/") || rc.method == "" {
						t.Errorf("OnRetry #%d = %+v", i, rc)
					}
					if strings.HasPrefix(spec, "reset") {
						_ = asTransportError(t, rc.err)
					} else if ae := asAPIError(t, rc.err); fmt.Sprint(ae.Status) != spec[:3] {
						t.Errorf("OnRetry #%d status %d", i, ae.Status)
					}
				}
			})
		}
	}
}

// TestReadRetriesResetAfter: a GET whose answer was lost is simply read again.
func TestReadRetriesResetAfter(t *testing.T) {
	t.Parallel()
	env := startSandbox(t)
	env.setFaults(t, "reset-after#1:GET")
	r, err := env.admin(t).GetRun(context.Background(), sandbox.IDs.ActiveRun)
	if err != nil || r.ID != sandbox.IDs.ActiveRun || env.sb.Requests() != 2 {
		t.Errorf("GetRun = %v after %d requests", err, env.sb.Requests())
	}
}

// TestNotRetried: 500 and client errors are final for every call.
func TestNotRetried(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 409, 422, 500, 501} {
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			reply(w, status, `{"error":true,"message":"no","code":"X"}`, "Retry-After", "0")
		})
		var rl retryLog
		c := s.client(t, withRetryLog(&rl))
		_, err := c.GetRun(context.Background(), validID)
		if StatusOf(err) != status || s.n.Load() != 1 || len(rl.get()) != 0 {
			t.Errorf("GET %d: %v after %d requests, %d retries", status, err, s.n.Load(), len(rl.get()))
		}
	}
}

// TestMaxTries: never more than MaxTries attempts.
func TestMaxTries(t *testing.T) {
	t.Parallel()
	for _, tries := range []int{1, 2, 5} {
		env := startSandbox(t)
		env.setFaults(t, "503")
		var rl retryLog
		_, err := env.admin(t, withMaxTries(tries), withRetryLog(&rl)).ArchiveRun(context.Background(), sandbox.IDs.ActiveRun)
		if ae := asAPIError(t, err); ae.Status != 503 || ae.Code != "SERVER_ERROR" {
			t.Errorf("MaxTries %d: %v", tries, err)
		}
		if n := env.sb.Requests(); n != int64(tries) || len(rl.get()) != tries-1 {
			t.Errorf("MaxTries %d: %d requests, %d OnRetry calls", tries, n, len(rl.get()))
		}
	}
}

// TestRetryAfterHonoured: the wait before the next attempt is the server's Retry-After.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			reply(w, 429, `{"error":true,"message":"Too Many Attempts.","code":"RATE_LIMIT_EXCEEDED"}`, "Retry-After", "1")
			return
		}
		reply(w, 200, `{"data":`+runJSON+`}`)
	})
	var rl retryLog
	if _, err := s.client(t, withRetryLog(&rl)).GetRun(context.Background(), validID); err != nil {
		t.Fatal(err)
	}
	got := s.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	if gap := got[1].At.Sub(got[0].At); gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Errorf("second attempt %v after the first, want about 1s", gap)
	}
	if calls := rl.get(); len(calls) != 1 || calls[0].wait != time.Second || StatusOf(calls[0].err) != 429 {
		t.Errorf("OnRetry calls = %+v", calls)
	}
}

// TestRetryAfterBeyondMax: a longer Retry-After than MaxRetryAfter is returned at once, for
// every class, with RetryAfter set.
func TestRetryAfterBeyondMax(t *testing.T) {
	t.Parallel()
	calls := append(safeCalls(), sbCall{"DeleteRun", deleteCalls()[1].call})
	for _, sc := range calls {
		env := startSandbox(t)
		env.setFaults(t, "429=5")
		var rl retryLog
		start := time.Now()
		err := sc.call(context.Background(), env.admin(t, withRetryLog(&rl)))
		ae := asAPIError(t, err)
		if ae.Status != 429 || ae.RetryAfter != 5*time.Second || ae.Code != "RATE_LIMIT_EXCEEDED" {
			t.Errorf("%s: %v (RetryAfter %v)", sc.name, err, ae.RetryAfter)
		}
		if env.sb.Requests() != 1 || len(rl.get()) != 0 || time.Since(start) > 3*time.Second {
			t.Errorf("%s: %d requests, %d retries, %v", sc.name, env.sb.Requests(), len(rl.get()), time.Since(start))
		}
	}
}

// TestPermanentDeleteRetriesOnlyUnsent: 429 is retried (Tallyfy did nothing) ...
func TestPermanentDeleteRetries429(t *testing.T) {
	t.Parallel()
	for _, dc := range deleteCalls() {
		env := startSandbox(t)
		env.setFaults(t, "429=0#2:DELETE")
		var rl retryLog
		if err := dc.call(context.Background(), env.admin(t, withRetryLog(&rl))); err != nil {
			t.Errorf("%s: %v", dc.name, err)
		}
		if env.sb.Requests() != 3 || len(rl.get()) != 2 {
			t.Errorf("%s: %d requests, %d retries, want 3 and 2", dc.name, env.sb.Requests(), len(rl.get()))
		}
		if _, ok := env.sb.Lookup(dc.kind, dc.id); ok {
			t.Errorf("%s: still there", dc.name)
		}
	}
}

// TestPermanentDeleteNotRetried: ... but nothing that may have reached Tallyfy is retried:
// 500, 502, 503, 504, a connection reset before or after processing, a timeout.
func TestPermanentDeleteNotRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec    string
		status  int  // 0: a transport error
		deleted bool // the sandbox processed the delete before the fault
	}{
		{"500:DELETE", 500, false},
		{"502:DELETE", 502, false},
		{"503:DELETE", 503, false},
		{"504:DELETE", 504, false},
		{"reset-before:DELETE", 0, false},
		{"reset-after:DELETE", 0, true},
		{"hang:DELETE", 0, false},
	}
	for _, tc := range cases {
		for _, dc := range deleteCalls() {
			t.Run(tc.spec+"/"+dc.name, func(t *testing.T) {
				t.Parallel()
				env := startSandbox(t)
				env.setFaults(t, tc.spec)
				var rl retryLog
				c := env.admin(t, withRetryLog(&rl), withMaxTries(5), func(c *Config) { c.RequestTimeout = 150 * time.Millisecond })
				err := dc.call(context.Background(), c)
				if tc.status != 0 {
					if ae := asAPIError(t, err); ae.Status != tc.status {
						t.Errorf("status %d, want %d", ae.Status, tc.status)
					}
				} else {
					te := asTransportError(t, err)
					if !te.Sent || te.Method != "DELETE" || !strings.HasSuffix(te.Path, "/delete") {
						t.Errorf("TransportError = %+v", te)
					}
					if tc.spec == "hang:DELETE" && !strings.Contains(err.Error(), "no response within 150ms") {
						t.Errorf("timeout error = %v", err)
					}
				}
				if n := env.sb.Requests(); n != 1 {
					t.Errorf("%d requests, want exactly 1", n)
				}
				if len(rl.get()) != 0 {
					t.Errorf("OnRetry called %d times", len(rl.get()))
				}
				if _, ok := env.sb.Lookup(dc.kind, dc.id); ok == tc.deleted {
					t.Errorf("record present = %v, want %v", ok, !tc.deleted)
				}
			})
		}
	}
}

// closedPort returns a loopback address on which nothing listens, and keeps the port bound
// (without listening) for the test's lifetime: a port that was merely closed could be taken by
// another test's server and answer.
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}

// TestConnectionRefused: nothing was sent, so every class retries it, permanent deletes too.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	base := "http://" + closedPort(t) + "/api"
	for _, ep := range idEndpoints {
		if ep.lookup {
			continue
		}
		var rl retryLog
		c := newTestClient(t, fastConfig(base, testToken, testOrg), withMaxTries(3), withRetryLog(&rl))
		err := ep.call(context.Background(), c, validID)
		te := asTransportError(t, err)
		if te.Sent || !errors.Is(err, syscall.ECONNREFUSED) || te.Method != ep.method {
			t.Errorf("%s: %+v (%v)", ep.name, te, err)
		}
		if calls := rl.get(); len(calls) != 2 || calls[1].attempt != 2 {
			t.Errorf("%s: OnRetry calls %+v, want 2", ep.name, calls)
		}
	}
}

// TestContextDeadline: retries never run past the caller's deadline.
func TestContextDeadline(t *testing.T) {
	t.Parallel()
	t.Run("Retry-After past the deadline", func(t *testing.T) {
		t.Parallel()
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			reply(w, 429, `{"error":true,"message":"slow down","code":"RATE_LIMIT_EXCEEDED"}`, "Retry-After", "1")
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.client(t, func(c *Config) { c.MaxRetryAfter = 10 * time.Second }).GetRun(ctx, validID)
		// Waiting would end at the deadline, with the deadline in the error.
		if ae := asAPIError(t, err); ae.Status != 429 || ae.RetryAfter != time.Second || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		if el := time.Since(start); el > time.Second || s.n.Load() != 1 {
			t.Errorf("returned after %v and %d requests; want at once", el, s.n.Load())
		}
	})
	t.Run("backoff reaches the deadline", func(t *testing.T) {
		t.Parallel()
		env := startSandbox(t)
		env.setFaults(t, "503")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		// Unbounded, 1000 tries at up to 8×20ms apart would take minutes.
		c := env.admin(t, withMaxTries(1000), func(c *Config) { c.RetryBaseDelay = 20 * time.Millisecond })
		_, err := c.GetRun(ctx, sandbox.IDs.ActiveRun)
		el := time.Since(start)
		if el > 500*time.Millisecond+700*time.Millisecond {
			t.Errorf("returned %v after start, deadline was 500ms", el)
		}
		// Either the deadline struck during a wait, or the client saw that no wait fits before
		// it and stopped: both keep the last 503 and its request id.
		if StatusOf(err) != 503 || !strings.Contains(err.Error(), "[request sbx-") {
			t.Errorf("err = %v; want the last 503 with its request id", err)
		}
		if n := env.sb.Requests(); n < 2 || n > 40 {
			t.Errorf("%d requests", n)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 204, "") })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, ep := range idEndpoints {
			if err := ep.call(ctx, s.client(t), validID); !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", ep.name, err)
			}
		}
		if n := s.n.Load(); n != 0 {
			t.Errorf("%d requests with a cancelled context", n)
		}
	})
	t.Run("cancelled while waiting to retry", func(t *testing.T) {
		t.Parallel()
		first := make(chan struct{}, 1)
		s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case first <- struct{}{}:
			default:
			}
			reply(w, 503, `{"error":true,"message":"down","code":"SERVER_ERROR"}`, "Retry-After", "2", "X-Request-Id", "r-503")
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-first; time.Sleep(30 * time.Millisecond); cancel() }()
		start := time.Now()
		_, err := s.client(t, func(c *Config) { c.MaxRetryAfter = 5 * time.Second }).ArchiveRun(ctx, validID)
		if el := time.Since(start); el > time.Second {
			t.Errorf("returned %v after start; the cancel came at about 30ms", el)
		}
		if !errors.Is(err, context.Canceled) || StatusOf(err) != 503 || !strings.Contains(err.Error(), "r-503") {
			t.Errorf("err = %v", err)
		}
		if s.n.Load() != 1 {
			t.Errorf("%d requests", s.n.Load())
		}
	})
	t.Run("cancelled during a hung request", func(t *testing.T) {
		t.Parallel()
		env := startSandbox(t)
		env.setFaults(t, "hang")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := env.admin(t).GetTemplate(ctx, sandbox.IDs.LiveTemplate)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
			t.Errorf("err = %v after %v", err, time.Since(start))
		}
		if env.sb.Requests() != 1 {
			t.Errorf("%d requests", env.sb.Requests())
		}
	})
}

// TestRequestTimeout: RequestTimeout bounds each attempt against a hung server.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	t.Run("one attempt", func(t *testing.T) {
		t.Parallel()
		env := startSandbox(t)
		env.setFaults(t, "hang")
		start := time.Now()
		_, err := env.admin(t, withMaxTries(1), func(c *Config) { c.RequestTimeout = 100 * time.Millisecond }).GetRun(context.Background(), sandbox.IDs.ActiveRun)
		el := time.Since(start)
		te := asTransportError(t, err)
		if !te.Sent || !strings.Contains(err.Error(), "no response within 100ms") || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		if el < 100*time.Millisecond || el > 3*time.Second {
			t.Errorf("took %v", el)
		}
	})
	t.Run("per attempt, then retried", func(t *testing.T) {
		t.Parallel()
		env := startSandbox(t)
		env.setFaults(t, "hang#2")
		var rl retryLog
		start := time.Now()
		r, err := env.admin(t, withRetryLog(&rl), func(c *Config) { c.RequestTimeout = 100 * time.Millisecond }).GetRun(context.Background(), sandbox.IDs.ActiveRun)
		if err != nil || r.ID != sandbox.IDs.ActiveRun {
			t.Fatalf("GetRun = %v", err)
		}
		if el := time.Since(start); el < 200*time.Millisecond || el > 3*time.Second {
			t.Errorf("took %v", el)
		}
		if env.sb.Requests() != 3 || len(rl.get()) != 2 || !strings.Contains(rl.get()[0].err.Error(), "no response within") {
			t.Errorf("%d requests, retries %+v", env.sb.Requests(), rl.get())
		}
	})
	t.Run("slow but in time", func(t *testing.T) {
		t.Parallel()
		env := startSandbox(t)
		env.setFaults(t, "latency=50ms")
		if _, err := env.admin(t, withMaxTries(1), func(c *Config) { c.RequestTimeout = 2 * time.Second }).GetRun(context.Background(), sandbox.IDs.ActiveRun); err != nil {
			t.Errorf("GetRun with 50ms latency: %v", err)
		}
	})
}
