package sandbox

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestCommandBrokenShapeFlag(t *testing.T) {
	t.Parallel()
	var help strings.Builder
	if err := Command(t.Context(), []string{"--help"}, nil, &help); err != nil || !strings.Contains(help.String(), "--broken-shape") {
		t.Errorf("help: %v %q", err, help.String())
	}
	err := Command(t.Context(), []string{"--broken-shape", "user.id"}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "kind must be task, run, template, me or organization") {
		t.Errorf("bad --broken-shape: %v", err)
	}
}

// TestCommandRateFlags: the sandbox subcommand documents and checks --rate-limit,
// --rate-window and --latency.
func TestCommandRateFlags(t *testing.T) {
	var help bytes.Buffer
	if err := Command(t.Context(), []string{"--help"}, nil, &help); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--rate-limit", "--rate-window", "--latency", "Retry-After", "X-RateLimit-Limit/Remaining/Reset"} {
		if !strings.Contains(help.String(), f) {
			t.Errorf("sandbox --help does not mention %s", f)
		}
	}
	for args, want := range map[string]string{
		"--rate-limit -2":                 "flag -rate-limit: want requests per second",
		"--rate-limit lots":               "flag -rate-limit: want requests per second",
		"--rate-window 0s --rate-limit 5": "flag -rate-window: want a duration above 0",
		"--rate-window 2s":                "--rate-window needs --rate-limit",
		"--latency soon":                  "flag -latency: want a duration",
	} {
		err := Command(t.Context(), strings.Fields(args), nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sandbox %s: %v, want %q", args, err, want)
		}
	}
}
