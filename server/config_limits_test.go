package server

import (
	"strings"
	"testing"
	"time"
)

// TestConnectionLimitFlags: the body deadline and connection caps have defaults, can be set by
// flag or variable, and refuse values that would switch the deadline off or make no sense.
func TestConnectionLimitFlags(t *testing.T) {
	cfg, err := ParseConfig(nil, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BodyReadTimeout != 30*time.Second || cfg.MaxConns != 2048 || cfg.MaxConnsPerIP != 128 {
		t.Fatalf("defaults: body %v, conns %d, per address %d", cfg.BodyReadTimeout, cfg.MaxConns, cfg.MaxConnsPerIP)
	}
	cfg, err = ParseConfig([]string{"--body-read-timeout", "2s", "--max-conns-per-ip", "0"}, env(map[string]string{"MCP_MAX_CONNS": "10"}), nil)
	if err != nil || cfg.BodyReadTimeout != 2*time.Second || cfg.MaxConns != 10 || cfg.MaxConnsPerIP != 0 {
		t.Fatalf("set: %v %+v", err, cfg)
	}
	for _, args := range [][]string{{"--body-read-timeout", "0s"}, {"--max-conns", "-1"}, {"--max-conns-per-ip", "-5"}} {
		if _, err := ParseConfig(args, env(nil), nil); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
}
