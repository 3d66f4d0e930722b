package mcphttp

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// LimitConns caps the listener's open connections: total at a time (netutil.LimitListener:
// further connections wait in the kernel's backlog until one closes), and perIP from one
// remote address (further ones are closed as soon as they are accepted, so one caller cannot
// take the total). 0 means no cap.
func LimitConns(ln net.Listener, total, perIP int, logger *slog.Logger) net.Listener {
	if total > 0 {
		ln = netutil.LimitListener(ln, total)
	}
	if perIP > 0 {
		ln = &perIPListener{Listener: ln, max: perIP, open: map[string]int{}, logger: logger}
	}
	return ln
}

type perIPListener struct {
	net.Listener
	max      int
	logger   *slog.Logger
	lastWarn atomic.Int64

	mu   sync.Mutex
	open map[string]int // remote address -> open connections
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.open[ip] >= l.max
		if !over {
			l.open[ip]++
		}
		l.mu.Unlock()
		if over {
			if now := time.Now().UnixNano(); now-l.lastWarn.Load() > int64(10*time.Second) {
				l.lastWarn.Store(now) // at most one line in 10 s: a flood must not flood the log
				l.logger.Warn("connection refused: too many open from this address (--max-conns-per-ip)", "remote", ip, "max", l.max)
			}
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *perIPListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
