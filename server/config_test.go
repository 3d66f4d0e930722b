package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	idA = "0123456789abcdef0123456789abcdef"
	idB = "2db5a39eaf55b1f0cc06bb080d71a6df"
	idC = "fedcba9876543210fedcba9876543210"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagsWinOverEnvironment(t *testing.T) {
	cfg, err := ParseConfig([]string{"--org-id", "flag", "--request-timeout", "5s", "--read-only=false"},
		env(map[string]string{"TALLYFY_ORG_ID": "env", "TALLYFY_READ_ONLY": "true", "TALLYFY_PROTECT": idA + ", " + idB + ",," + idC, "TALLYFY_MAX_DELETES_PER_HOUR": "3"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OrgID != "flag" || cfg.Policy.ReadOnly || cfg.RequestTimeout != 5*time.Second {
		t.Errorf("flags did not win: %+v", cfg)
	}
	if strings.Join(cfg.Policy.Protect, "|") != idA+"|"+idB+"|"+idC || cfg.Policy.MaxDeletesPerHour != 3 {
		t.Errorf("environment not read: protect %v, budget %d", cfg.Policy.Protect, cfg.Policy.MaxDeletesPerHour)
	}
}

// A token file given as a flag wins over a token in the environment.
func TestTokenFileFlagWinsOverVariable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]string{"--token-file", file}, env(map[string]string{"TALLYFY_ACCESS_TOKEN": "from-env"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := readSecret(cfg.AccessToken, cfg.TokenFile, "token")
	if err != nil || tok != "from-file" {
		t.Errorf("token %q, %v; want the file's", tok, err)
	}
	if _, err := ParseConfig([]string{"--token-file", file, "--access-token", "x"}, env(nil), nil); err == nil {
		t.Error("both --token-file and --access-token accepted")
	}
	cfg, _ = ParseConfig(nil, env(map[string]string{"TALLYFY_ACCESS_TOKEN": "from-env", "TALLYFY_TOKEN_FILE": file}), nil)
	if tok, _ := readSecret(cfg.AccessToken, cfg.TokenFile, "token"); tok != "from-env" {
		t.Errorf("with both variables the value should be used, got %q", tok)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, args := range [][]string{
		{"--transport", "grpc"}, {"--log-format", "xml"}, {"--log-level", "loud"}, {"--confirm", "maybe"},
		{"--max-deletes-per-hour", "-2"}, {"--tools", "nope"}, {"--exclude-tools", "list_runs,nope"},
		{"--request-timeout", "soon"}, {"--read-only=perhaps"}, {"stray"}, {"--no-such-flag"},
	} {
		if _, err := ParseConfig(args, env(nil), nil); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	_, err := ParseConfig([]string{"--tools", "nope"}, env(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "list_runs") {
		t.Errorf("unknown tool error does not list valid names: %v", err)
	}
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	var b bytes.Buffer
	if _, err := ParseConfig([]string{"--help"}, env(nil), &b); !errors.Is(err, ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, o := range Options {
		if !strings.Contains(b.String(), "--"+o.Name) || (o.Env != "" && !strings.Contains(b.String(), o.Env)) {
			t.Errorf("--help lacks --%s / %s", o.Name, o.Env)
		}
	}
}

// TestProtectNormalized: protected IDs are lowercased (tool arguments are lowercase, so an
// uppercase entry would protect nothing), and an entry that is not an ID stops startup,
// naming the entry and where it came from.
func TestProtectNormalized(t *testing.T) {
	cfg, err := ParseConfig([]string{"--protect", strings.ToUpper(idB) + ", " + idA}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Policy.Protect, "|") != idB+"|"+idA {
		t.Errorf("--protect %v, want lowercase %s|%s", cfg.Policy.Protect, idB, idA)
	}
	cfg, err = ParseConfig(nil, env(map[string]string{"TALLYFY_PROTECT": strings.ToUpper(idC)}), nil)
	if err != nil || strings.Join(cfg.Policy.Protect, "|") != idC {
		t.Errorf("TALLYFY_PROTECT: %v, %v", cfg, err)
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"--protect", idA + ",not-an-id"}, nil, []string{"protect", `"not-an-id"`, "32 hex"}},
		{[]string{"--protect", idA + "0"}, nil, []string{"protect", idA + "0"}},
		{[]string{"--protect", idA[:31] + "g"}, nil, []string{"protect", idA[:31] + "g"}},
		{nil, map[string]string{"TALLYFY_PROTECT": idB + "/delete"}, []string{"TALLYFY_PROTECT", idB + "/delete"}},
	} {
		_, err := ParseConfig(c.args, env(c.env), nil)
		if err == nil {
			t.Errorf("%v %v accepted", c.args, c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %v: error %q lacks %q", c.args, c.env, err, w)
			}
		}
	}
}
