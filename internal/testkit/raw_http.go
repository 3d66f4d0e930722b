package testkit

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// InitBody is a legacy initialize request.
const InitBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// RawPost posts body to url with headers ("Host" sets the request's host) and returns the
// status, headers and body.
func RawPost(t testing.TB, url, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	SetHeaders(req, headers)
	return Do(t, req)
}

// SetHeaders sets headers on req; "Host" sets the request's host.
func SetHeaders(req *http.Request, headers map[string]string) {
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
}

// Do sends req with the default client and returns the status, headers and body.
func Do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// WaitHealthy polls url's /healthz until it answers 200.
func WaitHealthy(t testing.TB, hc *http.Client, url string) {
	t.Helper()
	Eventually(t, 10*time.Second, "the server to answer /healthz", func() bool {
		resp, err := hc.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
