package docs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

func knownFlag(name string) bool {
	return slices.ContainsFunc(server.Options, func(o server.Option) bool { return o.Name == name })
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployGuideFlagsExist: every --flag and every MCP_/TALLYFY_ variable that the deployment
// guide and the reference pages moved out of the README name is one the server has.
func TestDeployGuideFlagsExist(t *testing.T) {
	// The least number of flags each page names: fewer means the pattern broke.
	for doc, least := range map[string]int{"deploy.md": 8, "http.md": 8, "reliability.md": 5, "performance.md": 0} {
		// Lines that start another program (the try-it recipe's redis-server) carry its flags, not ours.
		guide := regexp.MustCompile(`(?m)^redis-server .*$`).ReplaceAllString(read(t, "../../docs/"+doc), "")
		flags := regexp.MustCompile("(?:^|[\\s`(])--([a-z][a-z0-9-]*)").FindAllStringSubmatch(guide, -1)
		if len(flags) < least {
			t.Fatalf("found only %d flags in docs/%s: the pattern is wrong", len(flags), doc)
		}
		for _, m := range flags {
			if !knownFlag(m[1]) {
				t.Errorf("docs/%s uses --%s, which the server does not have", doc, m[1])
			}
		}
		for _, v := range regexp.MustCompile(`\b(?:MCP|TALLYFY)_[A-Z_]+\b`).FindAllString(guide, -1) {
			if !knownEnv(v) {
				t.Errorf("docs/%s names the variable %s, which the server does not read", doc, v)
			}
		}
	}
}

// TestDeployComposeCommandParses: each tallyfy-mcp service's command in the compose file is
// accepted by the server's own flag parser (every flag exists, every value is valid, the flags
// that go together are together), and the Caddyfile sends traffic to the port they listen on.
func TestDeployComposeCommandParses(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build   any      `yaml:"build"`
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "../../docs/deploy/compose.yaml")), &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	caddy := read(t, "../../docs/deploy/Caddyfile")
	servers := 0
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		servers++
		if len(svc.Command) == 0 {
			t.Fatalf("service %s has no command", name)
		}
		cfg, err := server.ParseConfig(svc.Command, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("service %s: the server refuses its command: %v", name, err)
		}
		if !cfg.Stateless || cfg.State == "" || cfg.Callers == "" || cfg.Transport != "http" {
			t.Fatalf("service %s: want --stateless, --state and --callers over http, got %+v", name, cfg)
		}
		if cfg.MaxConnsPerIP != 0 {
			t.Errorf("service %s: behind the proxy every caller has Caddy's address: want --max-conns-per-ip 0, got %d", name, cfg.MaxConnsPerIP)
		}
		if dir := filepath.Dir(cfg.AuditLog); dir != "/var/log/tallyfy-mcp" {
			t.Errorf("service %s: --audit-log in %s, but the image makes only /var/log/tallyfy-mcp writable", name, dir)
		}
		_, port, _ := strings.Cut(cfg.Addr, ":")
		if !strings.Contains(caddy, name+":"+port) {
			t.Errorf("the Caddyfile does not send traffic to %s:%s", name, port)
		}
	}
	if servers < 2 {
		t.Fatalf("the compose file has %d tallyfy-mcp services, want two replicas", servers)
	}
}

// TestDeployCallersExample: the example callers file as shipped does not load (its hashes are
// placeholders the operator must replace), and with the hashes of random tokens in their place
// it is one the server accepts.
func TestDeployCallersExample(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"alice-tallyfy", "bob-tallyfy"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("tallyfy-token-"+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The example points at compose secrets; here they are files in a temporary directory.
	shipped := strings.ReplaceAll(read(t, "../../docs/deploy/callers.example.json"), "/run/secrets/", dir+"/")
	load := func(text string) (*auth.Callers, error) {
		path := filepath.Join(dir, "callers.json")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return auth.LoadCallers(path, tallyfy.Config{BaseURL: "https://go.tallyfy.com/api", OrgID: "0123456789abcdef0123456789abcdef"},
			func(k string) string {
				if k == "CLEANUP_TALLYFY_TOKEN" {
					return "cleanup-token"
				}
				return ""
			})
	}
	if _, err := load(shipped); err == nil || !strings.Contains(err.Error(), `entry 1 ("alice"): "token_sha256" must be`) {
		t.Fatalf("the example as shipped: %v; want it refused for alice's placeholder hash", err)
	}
	placeholders := regexp.MustCompile(`"REPLACE[^"]*"`)
	if n := len(placeholders.FindAllString(shipped, -1)); n != 3 {
		t.Fatalf("%d placeholders, want one per caller (3)", n)
	}
	filled := placeholders.ReplaceAllStringFunc(shipped, func(string) string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		sum := sha256.Sum256([]byte(hex.EncodeToString(b)))
		return `"` + hex.EncodeToString(sum[:]) + `"`
	})
	c, err := load(filled)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 3 {
		t.Fatalf("loaded %d callers, want 3", c.Len())
	}
}

// TestDockerfileMakesTheAuditDirAndStampsTheVersion: no Docker engine runs in CI, so the
// Dockerfile is read: the audit directory the compose file writes to is created owned by the
// non-root user the server runs as (else a named volume there is root's, and the server cannot
// open its audit file), and the version is the VERSION file's unless a build argument names one.
func TestDockerfileMakesTheAuditDirAndStampsTheVersion(t *testing.T) {
	df := read(t, "../../Dockerfile")
	if !regexp.MustCompile(`(?m)^COPY --from=build --chown=nonroot:nonroot \S+ /var/log/tallyfy-mcp$`).MatchString(df) {
		t.Errorf("the Dockerfile does not create /var/log/tallyfy-mcp owned by nonroot")
	}
	if !regexp.MustCompile(`(?m)^USER nonroot:nonroot$`).MatchString(df) {
		t.Errorf("the image does not run as nonroot")
	}
	if !strings.Contains(df, `-X main.version=${VERSION:-$(cat VERSION)}`) {
		t.Errorf("the image's version does not default to the VERSION file")
	}
}

// TestDeployComposeMountsTheOperatorsCallersFile: the replicas read a callers.json the
// operator writes (compose refuses to start without it), never the example, and the guide's
// "Start it" steps say how to make a token and its hash.
func TestDeployComposeMountsTheOperatorsCallersFile(t *testing.T) {
	text := read(t, "../../docs/deploy/compose.yaml")
	var compose struct {
		Services map[string]struct {
			Build   any   `yaml:"build"`
			Volumes []any `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(text), &compose); err != nil {
		t.Fatal(err)
	}
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		found := false
		for _, v := range svc.Volumes {
			m, ok := v.(map[string]any)
			if !ok || m["target"] != "/etc/tallyfy-mcp/callers.json" {
				if s, _ := v.(string); strings.Contains(s, "callers") {
					t.Errorf("service %s mounts %q", name, s)
				}
				continue
			}
			bind, _ := m["bind"].(map[string]any)
			if m["source"] != "./callers.json" || bind["create_host_path"] != false {
				t.Errorf("service %s: callers mount %v; want ./callers.json, not created when missing", name, m)
			}
			found = true
		}
		if !found {
			t.Errorf("service %s does not mount the callers file", name)
		}
	}
	guide := read(t, "../../docs/deploy.md")
	start := guide[strings.Index(guide, "## Start it"):]
	start = start[:strings.Index(start[3:], "\n## ")+3]
	for _, want := range []string{"openssl rand -hex 32", "sha256sum | cut -d' ' -f1", "callers.json"} {
		if !strings.Contains(start, want) {
			t.Errorf("the guide's \"Start it\" does not say %q", want)
		}
	}
}
