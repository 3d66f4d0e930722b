package mcphttp

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestPerIPListenerClosesConnectionsOverTheCap: the third connection from one address is
// closed at once; a slot given back is usable again.
func TestPerIPListenerClosesConnectionsOverTheCap(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitConns(inner, 0, 2, slog.New(slog.DiscardHandler))
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a, b := dial(), dial()
	served := []net.Conn{<-accepted, <-accepted}
	_, _ = a, b
	third := dial()
	_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection from one address: read %v, want EOF (closed by the server)", err)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a connection over the cap was handed to the server: %v", c.RemoteAddr())
	default:
	}
	_ = served[0].Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a slot given back was not usable again")
	}
}
