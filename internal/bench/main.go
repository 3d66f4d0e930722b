// Command bench measures what operators compare MCP servers by (`make bench`): cold start of
// the binary over stdio (spawn → initialize → tools/list answered), side by side with a minimal
// server on the official TypeScript SDK (e2e/bench-peer.mjs, run by node) on the same API; per-call latency in-process, over stdio and
// over streamable HTTP next to the floor (the same Tallyfy request sent straight to the
// sandbox with a keep-alive client); peak RSS after 1,000 calls; tools/list bytes. The figures
// are kept in docs/performance.md, between its bench markers.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func main() {
	bin := flag.String("bin", "", "the tallyfy-mcp binary (built with `make build`)")
	calls := flag.Int("calls", 1000, "calls per latency series")
	starts := flag.Int("starts", 30, "cold starts of each server, interleaved")
	peer := flag.String("peer", "", "the TypeScript-SDK peer server script (e2e/bench-peer.mjs)")
	node := flag.String("node", "node", "the node binary that runs -peer")
	base := flag.String("base-bin", "", "another build (e.g. of an earlier revision) to time over stdio side by side with -bin")
	flag.Parse()
	if *bin == "" || *peer == "" {
		fmt.Fprintln(os.Stderr, "bench: -bin and -peer are required")
		os.Exit(2)
	}
	if err := run(*bin, *base, []string{*node, *peer}, *calls, *starts); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type series []time.Duration

func (s series) pct(p float64) time.Duration {
	c := append(series(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[min(len(c)-1, int(p*float64(len(c))))]
}

func run(bin, baseBin string, peer []string, calls, starts int) error {
	ctx := context.Background()
	sb := sandbox.New()
	base, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		return err
	}
	defer srv.Close()
	env := []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.AdminToken, "TALLYFY_ORG_ID=" + sandbox.OrgID, "TALLYFY_BASE_URL=" + base, "LOG_LEVEL=error"}
	runID := sandbox.IDs.ActiveRun

	cold, err := coldStarts([]string{bin}, peer, env, starts)
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	bare, err := bareStarts([]string{bin, "--version"}, []string{peer[0], "-e", "0"}, starts)
	if err != nil {
		return err
	}

	floor, err := floorSeries(base, runID, calls)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}

	cfg, err := server.ParseConfig([]string{"--base-url", base, "--org-id", sandbox.OrgID, "--access-token", sandbox.AdminToken,
		// No pacing: the sandbox has no limit, and --tallyfy-rate's default (9 a second) would time the pacer.
		"--transport", "http", "--rate-limit", "0", "--tallyfy-rate", "0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		return err
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer app.Close()
	inproc, err := client.NewInProcessClient(app.MCP)
	if err != nil {
		return err
	}
	inSeries, listBytes, err := callSeries(ctx, inproc, runID, calls)
	if err != nil {
		return fmt.Errorf("in-process: %w", err)
	}

	hs := httptest.NewServer(server.NewHTTPServer(app, "").Handler)
	defer hs.Close()
	hc, err := client.NewStreamableHttpClient(hs.URL + "/mcp")
	if err != nil {
		return err
	}
	httpSeries, _, err := callSeries(ctx, hc, runID, calls)
	if err != nil {
		return fmt.Errorf("streamable HTTP: %w", err)
	}

	// stdio: the binary on its built-in sandbox, so that its Tallyfy request is the floor's own
	// (same process, loopback, keep-alive), driven by a bare line client so that only the
	// server's cost shows.
	stdioSeries, pingSeries, rss, err := stdioSeries(bin, runID, calls)
	if err != nil {
		return fmt.Errorf("stdio: %w", err)
	}

	fmt.Printf("| measure | p50 | p99 | target |\n|---|---|---|---|\n")
	fmt.Printf("| cold start to the initialize result (stdio, %d starts) | %s | %s | p50 < 15 ms |\n", starts, ms(cold.init.pct(.5)), ms(cold.init.pct(.99)))
	fmt.Printf("| cold start, spawn → initialize → tools/list answered (%d starts, interleaved with the peer's) | %s | %s | |\n", starts, ms(cold.list.pct(.5)), ms(cold.list.pct(.99)))
	fmt.Printf("| the same, minimal TypeScript-SDK server (e2e/bench-peer.mjs on node) | %s | %s | |\n", ms(cold.peer.pct(.5)), ms(cold.peer.pct(.99)))
	fmt.Printf("| cold-start ratio, tallyfy-mcp ÷ peer: of the medians (spread of the %d rounds' ratios, p10–p90) | %.3f (%.3f–%.3f) | | ≤ 0.10 |\n",
		starts, cold.list.pct(.5).Seconds()/cold.peer.pct(.5).Seconds(), cold.ratios.pct(.1).Seconds(), cold.ratios.pct(.9).Seconds())
	fmt.Printf("| process start alone: `tallyfy-mcp --version` / `node -e 0` | %s / %s | %s / %s | |\n", ms(bare[0].pct(.5)), ms(bare[1].pct(.5)), ms(bare[0].pct(.99)), ms(bare[1].pct(.99)))
	fmt.Printf("| floor: GET run straight to the sandbox (keep-alive) | %s | %s | |\n", us(floor.pct(.5)), us(floor.pct(.99)))
	for _, r := range []struct {
		name string
		s    series
	}{{"get_run in-process", inSeries}, {"get_run over stdio", stdioSeries}, {"get_run over streamable HTTP", httpSeries}} {
		fmt.Printf("| %s (%d calls) | %s (+%s) | %s | |\n", r.name, calls, us(r.s.pct(.5)), us(r.s.pct(.5)-floor.pct(.5)), us(r.s.pct(.99)))
	}
	fmt.Printf("| ping over stdio: the pipe round trip and JSON-RPC alone, no tool, no Tallyfy | %s | %s | |\n", us(pingSeries.pct(.5)), us(pingSeries.pct(.99)))
	fmt.Printf("| stdio overhead above the floor | %s | | p50 < 100 µs |\n", us(stdioSeries.pct(.5)-floor.pct(.5)))
	fmt.Printf("| stdio overhead above the floor and the pipe round trip | %s | | |\n", us(stdioSeries.pct(.5)-floor.pct(.5)-pingSeries.pct(.5)))
	fmt.Printf("| peak RSS of the stdio server after %d calls | %.1f MB | | < 25 MB |\n", calls+1, rss)
	fmt.Printf("| tools/list result | %d bytes (~%d tokens) | | |\n", listBytes, listBytes/4)
	if baseBin != "" {
		return sideBySide(bin, baseBin, runID, calls)
	}
	return nil
}

// sideBySide times get_run and ping over stdio for bin and base in alternating blocks of calls
// calls each (each a fresh process with its warm-up), so that the machine's load falls on both
// alike, and prints both with the change.
func sideBySide(bin, base, runID string, calls int) error {
	const blocks = 10
	var got [2][2]series // [bin, base][get_run, ping]
	var rss [2]float64   // the largest peak RSS of the blocks
	for b := range blocks {
		for k := range 2 {
			k = (k + b) % 2
			c, p, r, err := stdioSeries([2]string{bin, base}[k], runID, calls)
			if err != nil {
				return fmt.Errorf("stdio side by side: %w", err)
			}
			got[k][0], got[k][1], rss[k] = append(got[k][0], c...), append(got[k][1], p...), max(rss[k], r)
		}
	}
	fmt.Printf("\nstdio side by side (%d alternating blocks, %d calls each): %s against -base-bin %s\n\n", blocks, calls, bin, base)
	fmt.Printf("| measure | -bin p50 | -base-bin p50 | change | -bin p99 | -base-bin p99 |\n|---|---|---|---|---|---|\n")
	for i, name := range []string{"get_run over stdio (built-in sandbox)", "ping over stdio"} {
		a, b := got[0][i].pct(.5), got[1][i].pct(.5)
		fmt.Printf("| %s | %s | %s | %+.0f %% | %s | %s |\n", name, us(a), us(b), 100*(a.Seconds()/b.Seconds()-1), us(got[0][i].pct(.99)), us(got[1][i].pct(.99)))
	}
	fmt.Printf("| peak RSS after %d calls (largest of the blocks) | %.1f MB | %.1f MB | %+.0f %% | | |\n", calls+1, rss[0], rss[1], 100*(rss[0]/rss[1]-1))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

// coldSeries are the cold starts of the Go binary and of the TypeScript-SDK peer, and the ratio
// of each round's two starts (in seconds, i.e. as a plain number).
type coldSeries struct {
	init, list, peer, ratios series
}

// coldStarts starts bin and peer n times each, alternating which goes first, both with the real
// API configured (env: no sandbox to start), and times spawn → initialize result and spawn →
// tools/list result.
func coldStarts(bin, peer, env []string, n int) (coldSeries, error) {
	var out coldSeries
	for i := 0; i < n; i++ {
		var goInit, goList, peerList time.Duration
		var err error
		for j := range 2 {
			if (i+j)%2 == 0 {
				goInit, goList, err = coldStart(bin, env)
			} else {
				_, peerList, err = coldStart(peer, env)
			}
			if err != nil {
				return out, err
			}
		}
		out.init = append(out.init, goInit)
		out.list = append(out.list, goList)
		out.peer = append(out.peer, peerList)
		out.ratios = append(out.ratios, time.Duration(float64(time.Second)*goList.Seconds()/peerList.Seconds()))
	}
	return out, nil
}

// coldStart spawns argv, writes initialize, then (after its result) the initialized notification
// and tools/list, reading stdout directly; an answer that is not a result is an error, so a
// crashing server cannot pass for a fast one.
func coldStart(argv, env []string) (toInit, toList time.Duration, err error) {
	const initReq = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}` + "\n"
	const listReq = `{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n" + `{"jsonrpc":"2.0","id":2,"method":"tools/list"}` + "\n"
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	r := bufio.NewReaderSize(stdout, 1<<20)
	_, _ = io.WriteString(stdin, initReq)
	line, err := r.ReadString('\n')
	toInit = time.Since(start)
	if err != nil || !strings.Contains(line, `"serverInfo"`) {
		return 0, 0, fmt.Errorf("%s: no initialize result: %v %.300q", argv, err, line)
	}
	_, _ = io.WriteString(stdin, listReq)
	line, err = r.ReadString('\n')
	toList = time.Since(start)
	if err != nil || !strings.Contains(line, `"tools":[{`) {
		return 0, 0, fmt.Errorf("%s: no tools/list result: %v %.300q", argv, err, line)
	}
	return toInit, toList, nil
}

// bareStarts times each command from spawn to exit, n times, interleaved: what starting the
// process costs before any MCP work.
func bareStarts(a, b []string, n int) ([2]series, error) {
	var out [2]series
	for i := 0; i < n; i++ {
		for k, argv := range [2][]string{a, b} {
			start := time.Now()
			if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
				return out, fmt.Errorf("%s: %w", argv, err)
			}
			out[k] = append(out[k], time.Since(start))
		}
	}
	return out, nil
}

func floorSeries(base, runID string, n int) (series, error) {
	hc := &http.Client{}
	url := base + "/organizations/" + sandbox.OrgID + "/runs/" + runID
	out := make(series, 0, n)
	for i := 0; i < n+50; i++ {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+sandbox.AdminToken)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Tallyfy-Client", "APIClient")
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if i >= 50 { // warm-up
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// callSeries initializes c, lists tools (returning the result's size) and times get_run calls.
func callSeries(ctx context.Context, c *client.Client, runID string, n int) (series, int, error) {
	if err := c.Start(ctx); err != nil {
		return nil, 0, err
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	init.Params.ClientInfo = mcp.Implementation{Name: "bench", Version: "0"}
	if _, err := c.Initialize(ctx, init); err != nil {
		return nil, 0, err
	}
	list, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, 0, err
	}
	b, _ := json.Marshal(list)
	req := mcp.CallToolRequest{}
	req.Params.Name = "get_run"
	req.Params.Arguments = map[string]any{"run_id": runID}
	out := make(series, 0, n)
	for i := 0; i < n+50; i++ {
		start := time.Now()
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return nil, 0, err
		}
		if res.IsError {
			return nil, 0, fmt.Errorf("get_run: %v", res.Content)
		}
		if i >= 50 {
			out = append(out, time.Since(start))
		}
	}
	return out, len(b), nil
}

// stdioSeries starts `bin --sandbox` and times get_run calls and pings written as JSON-RPC lines,
// each answer read before the next request is written; then it reads the child's peak RSS.
func stdioSeries(bin, runID string, n int) (calls, pings series, rss float64, err error) {
	cmd := exec.Command(bin, "--sandbox")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=error")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, nil, 0, err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	r := bufio.NewReaderSize(stdout, 1<<20)
	id := 0
	roundTrip := func(method, params string) (time.Duration, string, error) {
		id++
		req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q%s}`+"\n", id, method, params)
		start := time.Now()
		if _, err := io.WriteString(stdin, req); err != nil {
			return 0, "", err
		}
		line, err := r.ReadString('\n')
		d := time.Since(start)
		if err != nil || !strings.Contains(line, `"result"`) || strings.Contains(line, `"isError":true`) {
			return 0, "", fmt.Errorf("%s: %v %.300s", method, err, line)
		}
		return d, line, nil
	}
	if _, _, err := roundTrip("initialize", `,"params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}`); err != nil {
		return nil, nil, 0, err
	}
	if _, err := io.WriteString(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
		return nil, nil, 0, err
	}
	call := fmt.Sprintf(`,"params":{"name":"get_run","arguments":{"run_id":%q}}`, runID)
	for i := 0; i < n+50; i++ {
		d, _, err := roundTrip("tools/call", call)
		if err != nil {
			return nil, nil, 0, err
		}
		if i >= 50 { // warm-up
			calls = append(calls, d)
		}
	}
	for i := 0; i < n+50; i++ {
		d, _, err := roundTrip("ping", "")
		if err != nil {
			return nil, nil, 0, err
		}
		if i >= 50 {
			pings = append(pings, d)
		}
	}
	rss, err = peakRSS(cmd.Process.Pid)
	return calls, pings, rss, err
}

// peakRSS reads the stdio child's VmHWM in MB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}
