// Command loadtest measures tallyfy-mcp's streamable HTTP transport under many concurrent
// sessions. It starts the app in this process as production builds it (ParseConfig, New,
// NewHTTPServer on loopback) with the sandbox in the same process, opens -sessions sessions
// (legacy protocol era, each its own session on its own connection), initializes each and
// lists its tools, then has every session cycle archive_run / activate_run for -duration, and
// reports calls, calls/s, latency percentiles, transport errors and isError results (counted
// apart), CPU and peak RSS.
//
//	go run ./internal/loadtest -sessions 200 -duration 10s            # offers 3000 calls/s, paced
//	go run ./internal/loadtest -sessions 200 -duration 10s -rate 0    # saturation: no pacing
//
// By default the sessions are paced to offer -rate calls/s in all: with no think time, 200
// sessions could not see a p99 under 50 ms below 4000 calls/s (Little's law), so the latency
// target is only meaningful at a given offered rate. Every session has a process of its own.
//
// The generator is a bare HTTP/1.1 client: each session writes its prepared JSON-RPC requests
// on its own keep-alive connection and reads the answers with net/http's parser, so the
// server sees exactly what any client sends while the generator, which shares the 2 cores,
// spends little CPU and holds little memory (an SDK client keeps every session's decoded tool
// list). Its CPU and memory are still included in the figures.
//
// It exits 1 when a target is missed (-check, the default) or, always, on transport errors.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func main() { os.Exit(run()) }

type options struct {
	sessions   int
	duration   time.Duration
	rateLimit  float64
	rate       float64
	url        string
	auditLog   string
	logTo      string
	cpuProfile string
	memProfile string
	check      bool
	floorFor   time.Duration
	minRate    float64
	maxP99     time.Duration
	maxRSSMB   float64
}

func run() int {
	var o options
	flag.IntVar(&o.sessions, "sessions", 200, "concurrent MCP sessions")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long the sessions call tools")
	flag.Float64Var(&o.rate, "rate", 3000, "tool calls per second to offer, spread evenly over the sessions (0 = every session calls as fast as it can: saturation)")
	flag.Float64Var(&o.rateLimit, "rate-limit", -1, "the server's --rate-limit per session (-1 = its default, 20, when the offered rate per session is below it, else 0 = no limit)")
	flag.StringVar(&o.url, "url", "", "load a server already running at this base URL (e.g. http://127.0.0.1:8080) instead of one in this process; peak RSS and CPU are then this load generator's only")
	flag.StringVar(&o.auditLog, "audit-log", "", "the server's --audit-log (default: audit records go to the server log)")
	flag.StringVar(&o.logTo, "log", "discard", "where the server logs (info level): discard or stderr")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile at the end to this file")
	flag.DurationVar(&o.floorFor, "floor", 2*time.Second, "first measure the CPU of one bare net/http keep-alive exchange for this long (0: skip)")
	flag.BoolVar(&o.check, "check", true, "exit 1 when a target below is missed")
	flag.Float64Var(&o.minRate, "min-rate", 3000, "target: tool calls per second at least")
	flag.DurationVar(&o.maxP99, "max-p99", 50*time.Millisecond, "target: p99 latency at most")
	flag.Float64Var(&o.maxRSSMB, "max-rss-mb", 150, "target: peak RSS (VmHWM) at most, MB")
	flag.Parse()
	if o.sessions < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -sessions must be ≥ 1 and -duration > 0")
		return 2
	}
	if o.rateLimit < 0 {
		o.rateLimit = 20 // the production default
		if o.rate == 0 || o.rate/float64(o.sessions) > 16 {
			o.rateLimit = 0
		}
	}
	if err := loadtest(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 1
	}
	return 0
}

// startServer builds the app with ParseConfig + New + NewHTTPServer and serves it on loopback.
func startServer(o options) (url string, stop func(), err error) {
	// The sandbox in this process, with a process of its own for every session: sessions
	// sharing the 9 seeded runs would mostly measure their collisions.
	sb := sandbox.New(sandbox.WithExtraRuns(o.sessions))
	base, sbSrv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		return "", nil, err
	}
	args := []string{"--base-url", base, "--org-id", sandbox.OrgID, "--access-token", sandbox.AdminToken,
		"--transport", "http", "--addr", "127.0.0.1:0",
		"--rate-limit", strconv.FormatFloat(o.rateLimit, 'f', -1, 64),
		"--max-sessions", strconv.Itoa(o.sessions + 16)}
	if o.auditLog != "" {
		args = append(args, "--audit-log", o.auditLog)
	}
	cfg, err := server.ParseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return "", nil, err
	}
	cfg.Version = "loadtest"
	logw := io.Writer(io.Discard)
	if o.logTo == "stderr" {
		logw = os.Stderr
	}
	app, err := server.New(cfg, server.NewLogger(logw, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		return "", nil, err
	}
	h := server.NewHTTPServer(app, "")
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = app.Close()
		return "", nil, err
	}
	srv := &http.Server{Handler: h.Handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, ConnState: h.ConnState}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		_ = h.Shutdown(srv, 5*time.Second)
		_ = app.Close()
		_ = sbSrv.Close()
	}, nil
}

// session is one MCP session on its own keep-alive connection, driven by hand: requests are
// written as bytes, answers read by readResponse.
type session struct {
	conn net.Conn
	br   *bufio.Reader
	host string
	id   string // Mcp-Session-Id
	seq  int
	req  []byte
	body bytes.Buffer
}

func dialSession(addr string) (*session, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &session{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), host: addr}, nil
}

// post sends one JSON-RPC message to /mcp and returns the status and the answer's body (valid
// until the next post), read in full: the connection is then ready for the next request.
func (s *session) post(body []byte) (int, []byte, error) {
	s.req = fmt.Appendf(s.req[:0], "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Protocol-Version: 2025-11-25\r\n", s.host)
	if s.id != "" {
		s.req = fmt.Appendf(s.req, "Mcp-Session-Id: %s\r\n", s.id)
	}
	s.req = fmt.Appendf(s.req, "Content-Length: %d\r\n\r\n", len(body))
	s.req = append(s.req, body...)
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(s.req); err != nil {
		return 0, nil, err
	}
	resp, err := readResponse(s.br, &s.body)
	if err != nil {
		return 0, nil, err
	}
	if s.id == "" {
		s.id = resp.sessionID
	}
	return resp.status, resp.body, nil
}

// request posts a JSON-RPC request and returns its result's JSON, or an error for an HTTP
// failure or a JSON-RPC error.
func (s *session) request(method, params string) ([]byte, error) {
	s.seq++
	status, b, err := s.post(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, s.seq, method, params))
	if err != nil {
		return nil, err
	}
	var msg struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &msg) != nil || msg.Result == nil {
		return nil, fmt.Errorf("%s: HTTP %d: %.300s", method, status, b)
	}
	return msg.Result, nil
}

// open initializes the session and lists its tools, as a client does before its first call.
func (s *session) open() error {
	if _, err := s.request("initialize", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"loadtest","version":"1"}}`); err != nil {
		return err
	}
	if s.id == "" {
		return fmt.Errorf("initialize: no Mcp-Session-Id")
	}
	if status, b, err := s.post([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil || status != http.StatusAccepted {
		return fmt.Errorf("notifications/initialized: HTTP %d %v %.200s", status, err, b)
	}
	res, err := s.request("tools/list", `{}`)
	if err != nil {
		return err
	}
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(res, &list); err != nil || len(list.Tools) != 15 {
		return fmt.Errorf("tools/list: %d tools, want 15 (%v)", len(list.Tools), err)
	}
	return nil
}

// call sends tools/call and returns whether the result was a tool error, and a text to show
// for failures.
func (s *session) call(tool, runID string) (bool, string, error) {
	s.seq++
	status, b, err := s.post(fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{"run_id":%q}}}`, s.seq, tool, runID))
	switch {
	case err != nil:
		return false, "", err
	case status != http.StatusOK:
		return false, "", fmt.Errorf("HTTP %d: %.200s", status, b)
	case !bytes.Contains(b, []byte(`"result"`)):
		return false, "", fmt.Errorf("no result: %.200s", b)
	case bytes.Contains(b, []byte(`"isError":true`)):
		return true, string(b[:min(len(b), 300)]), nil
	}
	return false, "", nil
}

// close ends the session (DELETE /mcp) and the connection.
func (s *session) close() {
	_, _ = fmt.Fprintf(s.conn, "DELETE /mcp HTTP/1.1\r\nHost: %s\r\nMcp-Session-Id: %s\r\nMcp-Protocol-Version: 2025-11-25\r\nContent-Length: 0\r\n\r\n", s.host, s.id)
	_, _ = readResponse(s.br, &s.body)
	_ = s.conn.Close()
}

// sample is one session's measurements.
type sample struct {
	lat         []time.Duration
	transport   int // Go errors: the call got no MCP answer
	toolErrors  int // isError results
	firstErrors []string
}

func (s *sample) fail(kind string, err string) {
	if len(s.firstErrors) < 3 {
		s.firstErrors = append(s.firstErrors, kind+": "+err)
	}
}

var loadBefore = loadAvg()

func loadtest(o options) error {
	var floor time.Duration
	if o.floorFor > 0 {
		var err error
		if floor, err = plumbingFloor(o.sessions, o.floorFor); err != nil {
			return err
		}
	}
	url := strings.TrimSuffix(o.url, "/")
	if url == "" {
		u, stop, err := startServer(o)
		if err != nil {
			return err
		}
		defer stop()
		url = u
	}

	// Open every session (bounded parallelism): initialize, then list the tools.
	addr := strings.TrimPrefix(url, "http://")
	setupStart := time.Now()
	sessions := make([]*session, o.sessions)
	var setupErr atomic.Value
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := dialSession(addr)
			if err == nil {
				sessions[i] = s
				err = s.open()
			}
			if err != nil {
				setupErr.CompareAndSwap(nil, fmt.Errorf("session %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	if err, _ := setupErr.Load().(error); err != nil {
		return err
	}
	runs, err := runIDs(sessions[0])
	if err != nil {
		return err
	}
	setup := time.Since(setupStart)

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	// Every session cycles archive_run / activate_run on its run until the deadline.
	samples := make([]*sample, o.sessions)
	cpu0 := cpuTime()
	start := time.Now()
	deadline := start.Add(o.duration)
	for i, sess := range sessions {
		samples[i] = &sample{lat: make([]time.Duration, 0, 64*int(o.duration/time.Second+1))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, run := samples[i], runs[i%len(runs)]
			// Paced: call k is due at start + phase + k*interval; a session that falls behind
			// skips the slots it missed rather than bursting, so the achieved rate shows it.
			var interval, phase time.Duration
			if o.rate > 0 {
				interval = time.Duration(float64(o.sessions) / o.rate * float64(time.Second))
				phase = time.Duration(rand.Int64N(int64(interval)))
			}
			next := start.Add(phase)
			for k := 0; time.Now().Before(deadline); k++ {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					} else if -d > interval {
						next = time.Now()
					}
					next = next.Add(interval)
					if !next.Before(deadline.Add(interval)) {
						break
					}
				}
				tool := "archive_run"
				if k%2 == 1 {
					tool = "activate_run"
				}
				t0 := time.Now()
				isErr, text, err := sess.call(tool, run)
				d := time.Since(t0)
				switch {
				case err != nil:
					s.transport++
					s.fail("transport", err.Error())
				case isErr:
					s.toolErrors++
					s.fail("isError", text)
				default:
					s.lat = append(s.lat, d)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	var all []time.Duration
	var transportErrs, toolErrs int
	var firstErrs []string
	for _, s := range samples {
		all = append(all, s.lat...)
		transportErrs += s.transport
		toolErrs += s.toolErrors
		if len(firstErrs) < 5 {
			firstErrs = append(firstErrs, s.firstErrors...)
		}
	}
	slices.Sort(all)
	total := len(all) + transportErrs + toolErrs
	rate := float64(total) / elapsed.Seconds()
	p50, p99, pmax := pct(all, 0.50), pct(all, 0.99), pct(all, 1)
	hwm, rss := procStatus("VmHWM"), procStatus("VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	offered := "as fast as each session can (saturation)"
	if o.rate > 0 {
		offered = fmt.Sprintf("%.0f calls/s offered (%.1f per session)", o.rate, o.rate/float64(o.sessions))
	}
	where := "server, sandbox and load generator in this process"
	if o.url != "" {
		where = "load generator only: the server runs at " + o.url
	}
	fmt.Printf("tallyfy-mcp load test (%s)\n", where)
	limit := fmt.Sprintf("server --rate-limit %g", o.rateLimit)
	if o.url != "" {
		limit = "server as started"
	}
	fmt.Printf("  %d streamable-HTTP sessions (legacy era, one connection each), %s, %s, %s, %d runs (one per session where there are enough), GOMAXPROCS %d\n",
		o.sessions, o.duration, offered, limit, len(runs), runtime.GOMAXPROCS(0))
	fmt.Printf("  setup (open + initialize + tools/list): %s\n", setup.Round(time.Millisecond))
	fmt.Printf("  tool calls:          %d in %s\n", total, elapsed.Round(time.Millisecond))
	fmt.Printf("  calls/s:             %.0f\n", rate)
	fmt.Printf("  latency p50/p99/max: %s / %s / %s\n", p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), pmax.Round(10*time.Microsecond))
	fmt.Printf("  CPU (this process):  %.2f s = %.0f%% of %d cores; %.0f µs per call (a CPU-bound ceiling of %.0f calls/s on %d idle cores)\n",
		cpu.Seconds(), 100*cpu.Seconds()/elapsed.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU(),
		float64(cpu.Microseconds())/float64(max(total, 1)), float64(runtime.NumCPU())*float64(total)/cpu.Seconds(), runtime.NumCPU())
	if floor > 0 {
		fmt.Printf("  plumbing floor:      one bare net/http keep-alive exchange (%d connections) costs %.0f µs of CPU here; a lifecycle call makes 3 (MCP call, look-up, change): %.0f µs before any MCP or Tallyfy work\n",
			o.sessions, float64(floor.Nanoseconds())/1000, 3*float64(floor.Nanoseconds())/1000)
	}
	if la := loadAvg(); la != "" {
		fmt.Printf("  machine load average before/after: %s / %s\n", loadBefore, la)
	}
	fmt.Printf("  transport errors:    %d\n", transportErrs)
	fmt.Printf("  isError results:     %d\n", toolErrs)
	fmt.Printf("  peak RSS (VmHWM):    %.1f MB (VmRSS now %.1f MB; Go heap in use %.1f MB, %d GCs)\n",
		hwm, rss, float64(ms.HeapInuse)/(1<<20), ms.NumGC)
	for _, e := range firstErrs {
		fmt.Printf("  e.g. %s\n", e)
	}

	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			return err
		}
		_ = pprof.WriteHeapProfile(f)
		f.Close()
	}

	var missed []string
	if toolErrs > 0 {
		missed = append(missed, fmt.Sprintf("%d isError results, want none", toolErrs))
	}
	if rate < o.minRate {
		missed = append(missed, fmt.Sprintf("%.0f calls/s < %.0f", rate, o.minRate))
	}
	if p99 > o.maxP99 {
		missed = append(missed, fmt.Sprintf("p99 %s > %s", p99.Round(10*time.Microsecond), o.maxP99))
	}
	if hwm > o.maxRSSMB {
		missed = append(missed, fmt.Sprintf("peak RSS %.1f MB > %.0f MB", hwm, o.maxRSSMB))
	}
	for _, m := range missed {
		fmt.Println("  target missed:", m)
	}
	switch {
	case transportErrs > 0:
		return fmt.Errorf("%d transport errors", transportErrs)
	case o.check && len(missed) > 0:
		return fmt.Errorf("%d target(s) missed (-check=false only reports them)", len(missed))
	case len(missed) == 0:
		fmt.Println("  all targets met")
	}
	return nil
}

// runIDs lists every run of the sandbox, live and archived, page by page.
func runIDs(s *session) ([]string, error) {
	var ids []string
	for page := 1; ; page++ {
		res, err := s.request("tools/call", fmt.Sprintf(`{"name":"list_runs","arguments":{"archived":"include","per_page":100,"page":%d}}`, page))
		if err != nil {
			return nil, err
		}
		var out struct {
			IsError           bool `json:"isError"`
			StructuredContent struct {
				Runs []struct {
					ID string `json:"id"`
				} `json:"runs"`
				PageInfo struct {
					HasMore bool `json:"has_more"`
				} `json:"page_info"`
			} `json:"structuredContent"`
		}
		if err := json.Unmarshal(res, &out); err != nil || out.IsError {
			return nil, fmt.Errorf("list_runs: %.300s", res)
		}
		for _, r := range out.StructuredContent.Runs {
			ids = append(ids, r.ID)
		}
		if !out.StructuredContent.PageInfo.HasMore {
			break
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("list_runs: no runs")
	}
	return ids, nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// procStatus reads a "kB" line of /proc/self/status, in MB (0 where there is none).
func procStatus(key string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the 1-minute load average: other work on the machine skews every figure.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
