// Package redistest starts a real redis-server for tests: on a free loopback port, in a
// temporary directory, without persistence, and stops it when the test ends.
package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// InstallHint is how to get redis-server on Debian and Ubuntu (what .ci/run does).
const InstallHint = "apt-get update && apt-get install -y redis-server"

// Server is one redis-server process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// Start runs redis-server for the test. Without the binary the test is skipped with the
// install command, except in CI (CI=true), where it fails: CI must run these tests.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed, and CI must run the Redis tests: %s", InstallHint)
		}
		t.Skipf("redis-server is not installed; to run this test: %s", InstallHint)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	s.Port = freePort(t)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the redis:// URL of database db.
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://127.0.0.1:%d/%d", s.Port, db) }

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Restart starts the server again on the same port (after Stop); its data is gone.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	s.out = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--protected-mode", "yes")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if bytes.HasPrefix(buf[:n], []byte("+PONG")) {
				return
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			s.cmd = nil
			s.t.Fatalf("redis-server did not answer on %s within 10s; its output:\n%s", s.Addr(), s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server and waits for it to exit; the port stops answering.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// freePort asks the kernel for a free loopback port. Another process could take it before
// redis-server binds it; Restart then fails loudly rather than talking to the wrong server.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
