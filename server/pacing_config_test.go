package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// TestTallyfyRateFlag: --tallyfy-rate defaults to 9, reads TALLYFY_RATE, takes 0 for no
// pacing, and refuses what is not a number ≥ 0 with a message that says what it wants.
func TestTallyfyRateFlag(t *testing.T) {
	cfg, err := ParseConfig(nil, env(nil), nil)
	if err != nil || cfg.TallyfyRate != tallyfy.DefaultRate || tallyfy.DefaultRate != 9 {
		t.Fatalf("default: %v, %v; want 9", cfg.TallyfyRate, err)
	}
	if cfg, err = ParseConfig(nil, env(map[string]string{"TALLYFY_RATE": "4.5"}), nil); err != nil || cfg.TallyfyRate != 4.5 {
		t.Fatalf("TALLYFY_RATE=4.5: %v, %v", cfg, err)
	}
	if cfg, err = ParseConfig([]string{"--tallyfy-rate", "0"}, env(map[string]string{"TALLYFY_RATE": "4"}), nil); err != nil || cfg.TallyfyRate != 0 {
		t.Fatalf("--tallyfy-rate 0: %v, %v; want 0 (no pacing)", cfg, err)
	}
	for _, bad := range []string{"-1", "NaN", "+Inf", "fast", ""} {
		_, err := ParseConfig([]string{"--tallyfy-rate", bad}, env(nil), nil)
		if err == nil || !strings.Contains(err.Error(), "tallyfy-rate") || !strings.Contains(err.Error(), "0 = no pacing") {
			t.Errorf("--tallyfy-rate %q: %v, want a refusal naming the flag and what it wants", bad, err)
		}
	}
	var help bytes.Buffer
	PrintHelp(&help)
	if !strings.Contains(help.String(), "--tallyfy-rate") || !strings.Contains(help.String(), "TALLYFY_RATE") {
		t.Error("--help does not list --tallyfy-rate")
	}
}

// TestTallyfyRateWiring: the server's Tallyfy client is paced at --tallyfy-rate, and not at
// all against the built-in sandbox, which has no limit.
func TestTallyfyRateWiring(t *testing.T) {
	url, srv, err := sandbox.Listen("127.0.0.1:0", sandbox.New())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	timeOf := func(cfg *Config, n int) time.Duration {
		t.Helper()
		a := &App{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
		defer a.Close()
		c, err := a.tallyfyClient()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for range n {
			if _, err := c.GetMe(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	const n = tallyfy.DefaultRateBurst + 3
	paced := &Config{BaseURL: url, OrgID: sandbox.OrgID, AccessToken: sandbox.AdminToken, TallyfyRate: 10, RequestTimeout: 5 * time.Second}
	if d := timeOf(paced, n); d < 270*time.Millisecond {
		t.Errorf("%d calls at --tallyfy-rate 10 took %s, want ≥ 300ms (3 after the burst of %d)", n, d, tallyfy.DefaultRateBurst)
	}
	unpaced := *paced
	unpaced.TallyfyRate = 0
	if d := timeOf(&unpaced, 20); d > 250*time.Millisecond {
		t.Errorf("20 calls at --tallyfy-rate 0 took %s: still paced", d)
	}
	builtin := &Config{Sandbox: true, TallyfyRate: 1, RequestTimeout: 5 * time.Second}
	if d := timeOf(builtin, 20); d > 250*time.Millisecond {
		t.Errorf("20 calls against --sandbox took %s: paced, though it has no limit", d)
	}
}
