package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lmittmann/tint"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
)

// ParseLevel reads --log-level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
}

// NewLogger logs to w (stderr: stdout belongs to JSON-RPC on stdio): tint text, coloured only
// on a terminal and without NO_COLOR, or JSON.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	lvl, _ := ParseLevel(level)
	if format == "json" {
		return slog.New(slog.NewJSONHandler(escapingWriter{w}, &slog.HandlerOptions{Level: lvl}))
	}
	return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, TimeFormat: "15:04:05.000", NoColor: !onTerminal(w) || os.Getenv("NO_COLOR") != ""}))
}

func onTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && IsTerminal(f)
}

// escapingWriter writes JSON log lines with their bidi controls and other non-printable
// characters escaped (logsafe.EscapeJSON), as the text format's quoting does. slog's JSON
// handler writes each record in one Write, so each call holds whole JSON values.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	if _, err := e.w.Write(logsafe.EscapeJSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
