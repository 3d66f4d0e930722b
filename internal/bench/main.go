// Command bench measures what operators compare MCP servers by (`make bench`): cold start of
// the binary to the initialize result over stdio; per-call latency in-process, over stdio and
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
	starts := flag.Int("starts", 30, "cold starts")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "bench: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *calls, *starts); err != nil {
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

func run(bin string, calls, starts int) error {
	ctx := context.Background()
	sb := sandbox.New()
	base, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		return err
	}
	defer srv.Close()
	env := []string{"TALLYFY_ACCESS_TOKEN=" + sandbox.AdminToken, "TALLYFY_ORG_ID=" + sandbox.OrgID, "TALLYFY_BASE_URL=" + base, "LOG_LEVEL=error"}
	runID := sandbox.IDs.ActiveRun

	cold, err := coldStarts(bin, env, starts)
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}

	floor, err := floorSeries(base, runID, calls)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}

	cfg, err := server.ParseConfig([]string{"--base-url", base, "--org-id", sandbox.OrgID, "--access-token", sandbox.AdminToken,
		"--transport", "http", "--rate-limit", "0"}, func(string) string { return "" }, io.Discard)
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
	fmt.Printf("| cold start to initialize result (stdio, %d starts) | %s | %s | p50 < 15 ms |\n", starts, ms(cold.pct(.5)), ms(cold.pct(.99)))
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
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

// coldStarts times process start to the initialize result, with the real API configured (no
// sandbox to start), reading stdout directly.
func coldStarts(bin string, env []string, n int) (series, error) {
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}` + "\n"
	var out series
	for i := 0; i < n; i++ {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), env...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		_, _ = io.WriteString(stdin, init)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		d := time.Since(start)
		_ = stdin.Close()
		_ = cmd.Wait()
		if err != nil || !strings.Contains(line, `"serverInfo"`) {
			return nil, fmt.Errorf("no initialize result: %v %q", err, line)
		}
		out = append(out, d)
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
