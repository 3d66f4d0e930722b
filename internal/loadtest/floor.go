package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// plumbingFloor measures what one bare net/http keep-alive exchange costs in CPU on this
// machine: conns clients, each on its own connection, POST a JSON-RPC-sized body to a handler
// that answers a lifecycle-result-sized JSON body, for d. A lifecycle call makes three such
// exchanges (the MCP call, the look-up, the change), so three times this figure is CPU that any
// Go server built on net/http spends before it parses a byte of MCP.
func plumbingFloor(conns int, d time.Duration) (cpuPerExchange time.Duration, err error) {
	answer := bytes.Repeat([]byte("x"), 1500)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	url := "http://" + ln.Addr().String() + "/"
	body := []byte(`{"jsonrpc":"2.0","id":1001,"method":"tools/call","params":{"name":"archive_run","arguments":{"run_id":"d58ba634556a5ad9fde31013d2ecfdbe"}}}`)
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	deadline := time.Now().Add(d)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer hc.CloseIdleConnections()
			for time.Now().Before(deadline) {
				resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, fmt.Errorf("plumbing floor: %w", err)
	}
	if n.Load() == 0 {
		return 0, fmt.Errorf("plumbing floor: no exchange completed")
	}
	return cpu / time.Duration(n.Load()), nil
}
