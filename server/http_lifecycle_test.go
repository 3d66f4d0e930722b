package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/testkit"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// served is an app running its own HTTP transport (runHTTP via Serve), as main runs it.
type served struct {
	App    *App
	URL    string
	SB     *spySandbox
	Logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// serve starts app.Serve(ctx, nil, nil) on a free loopback port against a spy sandbox.
func serve(t *testing.T, scheme string, args ...string) *served {
	t.Helper()
	s := &served{SB: newSpySandbox(t), Logs: &logBuffer{}, done: make(chan error, 1)}
	all := append([]string{"--transport", "http", "--addr", "127.0.0.1:0", "--base-url", s.SB.URL, "--org-id", sandbox.OrgID, "--log-level", "debug"}, args...)
	cfg, err := ParseConfig(all, func(k string) string {
		if k == "TALLYFY_ACCESS_TOKEN" {
			return sandbox.AdminToken
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(cfg, NewLogger(s.Logs, cfg.LogLevel, cfg.LogFormat))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- app.Serve(ctx, nil, nil) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	addr, err := listenAddr(wctx, app) // bound by the server itself: no port picked in advance to race for
	if err != nil {
		cancel()
		t.Fatalf("the server did not start listening: %v\n%s", err, s.Logs.String())
	}
	s.App, s.URL = app, scheme+"://"+addr
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return")
		}
		_ = app.Close()
	})
	return s
}

// TestGracefulShutdown: cancelling Serve's context (what SIGTERM does) while calls are in
// flight lets them finish and be delivered, on both transports; an open SSE stream does not
// hold the shutdown; the audit record is written; Serve returns nil well within
// --shutdown-timeout.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	audit := testkit.AuditPath(t)
	s := serve(t, "http", "--audit-log", audit, "--shutdown-timeout", "5s")
	waitHealthy(t, http.DefaultClient, s.URL)
	s.SB.SetFaults(sandbox.Fault{Kind: "latency", Param: "800ms", Method: "DELETE"},
		sandbox.Fault{Kind: "latency", Param: "800ms", Method: "PUT"})

	// One call in flight on streamable HTTP and three on SSE, whose answers travel on the
	// stream after the handler returns (the race the shutdown must not lose).
	calls := []struct {
		kind, tool, arg, id string
	}{
		{kindStreamable, "archive_run", "run_id", sandbox.IDs.ActiveRun},
		{kindSSE, "archive_run", "run_id", sandbox.IDs.CompleteRun},
		{kindSSE, "activate_run", "run_id", sandbox.IDs.ArchivedRun},
		{kindSSE, "archive_template", "template_id", sandbox.IDs.LiveTemplate},
	}
	idle := connectHTTP(t, kindSSE, s.URL, clientOpts{era: legacyEra}) // an open stream, nothing in flight
	t.Cleanup(func() { _ = idle.Close() })
	type outcome struct {
		tool string
		res  *mcp.CallToolResult
		err  error
	}
	results := make(chan outcome, len(calls))
	for _, cl := range calls {
		c := connectHTTP(t, cl.kind, s.URL, clientOpts{era: legacyEra})
		t.Cleanup(func() { _ = c.Close() })
		go func() {
			res, err := call(context.Background(), c, cl.tool, map[string]any{cl.arg: cl.id})
			results <- outcome{cl.tool, res, err}
		}()
	}
	eventually(t, 5*time.Second, "every call to reach Tallyfy", func() bool { return s.SB.InFlight() == len(calls) })
	stopped := time.Now()
	s.cancel()

	for range calls {
		select {
		case o := <-results:
			if o.err != nil || o.res.IsError {
				t.Fatalf("%s in flight during shutdown: %v %v", o.tool, o.err, o.res)
			}
			if m := structured(t, o.res); m["changed"] != true {
				t.Fatalf("%s in flight during shutdown: %s", o.tool, text(o.res))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("an in-flight call got no answer during shutdown")
		}
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
		s.done <- nil // for the cleanup
	case <-time.After(4 * time.Second):
		t.Fatal("Serve did not return: the open SSE stream holds the shutdown?")
	}
	if d := time.Since(stopped); d > 3*time.Second {
		t.Fatalf("Serve returned %s after the signal: want soon after the in-flight calls (800ms), well before the 5s timeout", d)
	}
	recs := auditRecords(t, audit)
	var got []string
	for _, r := range recs {
		if r.Outcome == "ok" {
			got = append(got, r.Transport+" "+r.Tool)
		}
	}
	slices.Sort(got)
	want := []string{"sse activate_run", "sse archive_run", "sse archive_template", "streamable-http archive_run"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit records %v, want %v", got, want)
	}
	// Nothing is served any more.
	if resp, err := http.Get(s.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("still serving after Serve returned")
	}
}

// TestShutdownTimeout: a call that outlives --shutdown-timeout does not keep Serve from
// returning.
func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	s := serve(t, "http", "--shutdown-timeout", "300ms")
	waitHealthy(t, http.DefaultClient, s.URL)
	s.SB.SetFaults(sandbox.Fault{Kind: "hang"})
	c := connectHTTP(t, kindStreamable, s.URL, clientOpts{era: legacyEra})
	t.Cleanup(func() { _ = c.Close() })
	go func() { _, _ = call(context.Background(), c, "list_runs", nil) }()
	eventually(t, 5*time.Second, "the call to reach Tallyfy", func() bool { return s.SB.InFlight() == 1 })
	stopped := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		s.done <- nil
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return after the shutdown timeout")
	}
	if d := time.Since(stopped); d > 2*time.Second {
		t.Fatalf("Serve returned %s after the signal, with --shutdown-timeout 300ms", d)
	}
}

// TestCheckHTTPConfig: what a deployment off loopback must set.
func TestCheckHTTPConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		token string
		want  []string // substrings of the error; nil = accepted
	}{
		{[]string{"--addr", "127.0.0.1:0"}, "", nil},
		{[]string{"--addr", "localhost:8080"}, "", nil},
		{[]string{"--addr", "[::1]:0"}, "", nil},
		{[]string{"--addr", "0.0.0.0:0"}, "", []string{"0.0.0.0:0", "not a loopback address", "--auth-token"}},
		{[]string{"--addr", ":8080"}, "", []string{"--auth-token"}},
		{[]string{"--addr", "192.0.2.10:443"}, "", []string{"--auth-token"}},
		{[]string{"--addr", "0.0.0.0:0"}, "t", []string{"--tls-cert", "--tls-key", "--insecure-http"}},
		{[]string{"--addr", "0.0.0.0:0", "--insecure-http"}, "t", nil},
		{[]string{"--addr", "0.0.0.0:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "t", nil},
		{[]string{"--addr", "0.0.0.0:0", "--tls-cert", "c.pem"}, "t", []string{"--tls-cert and --tls-key"}},
		{[]string{"--addr", "127.0.0.1:0", "--tls-key", "k.pem"}, "", []string{"--tls-cert and --tls-key"}},
		{[]string{"--addr", "no-port"}, "", []string{"host:port"}},
	} {
		cfg, err := ParseConfig(append([]string{"--transport", "http", "--sandbox"}, tc.args...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckHTTPConfig(cfg, tc.token)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%v token=%q: refused: %v", tc.args, tc.token, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%v token=%q: accepted", tc.args, tc.token)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v token=%q: error %q does not say %q", tc.args, tc.token, err, w)
			}
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key, and returns their
// paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tallyfy-mcp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestTLS: with --tls-cert/--tls-key both transports serve HTTPS to a client that trusts the
// certificate; plain HTTP and an untrusting client get nothing.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	const token = "tls-caller-token"
	s := serve(t, "https", "--tls-cert", certFile, "--tls-key", keyFile, "--auth-token", token)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitHealthy(t, hc, s.URL)
	auth := map[string]string{"Authorization": "Bearer " + token}
	for _, kind := range []string{kindStreamable, kindSSE} {
		c := connectHTTP(t, kind, s.URL, clientOpts{era: legacyEra, headers: auth, http: hc})
		ctx := ctxT(t, 10*time.Second)
		if n := len(toolNames(t, ctx, c)); n != len(tools.All) {
			t.Fatalf("%s over TLS: %d tools", kind, n)
		}
		if res := mustCall(t, ctx, c, "archive_run", map[string]any{"run_id": sandbox.IDs.ActiveRun}); res.IsError {
			t.Fatalf("%s over TLS: %s", kind, text(res))
		}
		_ = c.Close()
	}
	if _, err := dialHTTP(kindStreamable, s.URL, clientOpts{era: legacyEra, headers: auth}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client not trusting the certificate: %v", err)
	}
	plain := "http" + strings.TrimPrefix(s.URL, "https")
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served")
		}
	}
	if strings.Contains(s.Logs.String(), token) {
		t.Fatal("the log shows the auth token")
	}
	if !strings.Contains(s.Logs.String(), "tls=true") {
		t.Fatalf("the startup line does not say TLS:\n%s", s.Logs.String())
	}
}

// listenAddr waits until the HTTP transports are listening and returns their address.
func listenAddr(ctx context.Context, a *App) (string, error) {
	select {
	case addr := <-a.listening:
		return addr, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
