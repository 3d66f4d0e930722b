package server

import (
	"context"
	"os"
	"strconv"
	"time"
)

// TerminalHint is what a person who starts the server by hand on a terminal sees (on stderr):
// a stdio MCP server otherwise just sits silently waiting for JSON-RPC.
const TerminalHint = "tallyfy-mcp: waiting for an MCP client on stdin (this is a stdio MCP server: an MCP client starts it). " +
	"To try it by hand, run `make inspect` (the MCP Inspector on the sandbox); Ctrl-C stops it."

// IsTerminal reports whether f is a character device (a terminal), not a pipe or a file.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ExitWithParentFromEnv reads MCP_EXIT_WITH_PARENT, which every subcommand honours (the flag
// --exit-with-parent is the server's own).
func ExitWithParentFromEnv(getenv func(string) string) bool {
	b, _ := strconv.ParseBool(getenv("MCP_EXIT_WITH_PARENT"))
	return b
}

// parentPollInterval is how often WatchParent looks at the parent process.
const parentPollInterval = 250 * time.Millisecond

// WatchParent returns a context that is cancelled, like on SIGTERM, once the process that
// started this one is gone (this process was re-parented). A test runner that is killed, or a
// client that crashes without closing the server's stdin, then leaves no server behind; an
// HTTP server has no stdin to see closing. Polling getppid is portable (Linux, macOS).
func WatchParent(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	parent := os.Getppid()
	go func() {
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != parent {
					cancel()
					return
				}
			}
		}
	}()
	return ctx
}
