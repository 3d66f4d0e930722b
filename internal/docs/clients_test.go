package docs

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// snippet is one server entry found in docs/clients/*.md.
type snippet struct {
	file    string
	name    string
	command string
	url     string
	args    []string
	env     map[string]string
}

var fence = regexp.MustCompile("(?s)```(json|sh|toml)\n(.*?)```")

func knownEnv(name string) bool {
	return slices.ContainsFunc(server.Options, func(o server.Option) bool { return o.Env == name })
}

func clientSnippets(t *testing.T) []snippet {
	t.Helper()
	files, err := filepath.Glob("../../docs/clients/*.md")
	if err != nil || len(files) < 7 {
		t.Fatalf("want the 7 client docs, found %v (%v)", files, err)
	}
	var out []snippet
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := fence.FindAllStringSubmatch(string(b), -1)
		if len(blocks) == 0 {
			t.Errorf("%s has no snippet", f)
		}
		for _, m := range blocks {
			switch m[1] {
			case "json":
				out = append(out, jsonSnippets(t, f, m[2])...)
			case "sh":
				out = append(out, shellSnippets(t, f, m[2])...)
			case "toml":
				out = append(out, tomlSnippets(t, f, m[2])...)
			}
		}
	}
	return out
}

func jsonSnippets(t *testing.T, file, body string) []snippet {
	var doc struct {
		MCPServers map[string]json.RawMessage `json:"mcpServers"`
		Servers    map[string]json.RawMessage `json:"servers"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Errorf("%s: snippet is not valid JSON: %v", file, err)
		return nil
	}
	var out []snippet
	for _, group := range []map[string]json.RawMessage{doc.MCPServers, doc.Servers} {
		for name, raw := range group {
			var e struct {
				Command string            `json:"command"`
				URL     string            `json:"url"`
				Args    []string          `json:"args"`
				Env     map[string]string `json:"env"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Errorf("%s: %s: %v", file, name, err)
				continue
			}
			out = append(out, snippet{file: file, name: name, command: e.Command, url: e.URL, args: e.Args, env: e.Env})
		}
	}
	if len(out) == 0 {
		t.Errorf("%s: JSON snippet names no server", file)
	}
	return out
}

// shellSnippets reads `<client> mcp add NAME [--env K=V]... [--] COMMAND ARGS...`.
func shellSnippets(t *testing.T, file, body string) []snippet {
	var out []snippet
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != "mcp" || f[2] != "add" {
			t.Errorf("%s: unexpected shell line %q", file, line)
			continue
		}
		s := snippet{file: file, env: map[string]string{}}
		rest := f[3:]
		for len(rest) > 0 {
			switch {
			case rest[0] == "--env" && len(rest) > 1:
				k, v, _ := strings.Cut(rest[1], "=")
				s.env[k] = v
				rest = rest[2:]
			case rest[0] == "--transport" || rest[0] == "--header":
				s.url = "remote"
				rest = nil
			case rest[0] == "--":
				rest = rest[1:]
				s.command, s.args = rest[0], rest[1:]
				rest = nil
			case s.name == "":
				s.name, rest = rest[0], rest[1:]
			default:
				// `gemini mcp add NAME COMMAND -- ARGS…`: the -- only ends Gemini's own flags.
				s.command, s.args = rest[0], rest[1:]
				if len(s.args) > 0 && s.args[0] == "--" {
					s.args = s.args[1:]
				}
				rest = nil
			}
		}
		out = append(out, s)
	}
	return out
}

var (
	tomlTable = regexp.MustCompile(`\[mcp_servers\.([a-z-]+)\]`)
	tomlStr   = regexp.MustCompile(`"([^"]*)"`)
	tomlEnv   = regexp.MustCompile(`([A-Z_]+) = "([^"]*)"`)
)

func tomlSnippets(t *testing.T, file, body string) []snippet {
	s := snippet{file: file, env: map[string]string{}}
	for _, line := range strings.Split(body, "\n") {
		switch {
		case tomlTable.MatchString(line):
			s.name = tomlTable.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "command = "):
			s.command = tomlStr.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "args = "):
			for _, m := range tomlStr.FindAllStringSubmatch(line, -1) {
				s.args = append(s.args, m[1])
			}
		case strings.HasPrefix(line, "env = "):
			for _, m := range tomlEnv.FindAllStringSubmatch(line, -1) {
				s.env[m[1]] = m[2]
			}
		}
	}
	if s.name == "" || s.command == "" {
		t.Errorf("%s: TOML snippet lacks [mcp_servers.x] or command", file)
	}
	return []snippet{s}
}

// TestClientSnippets checks every snippet of docs/clients names only real flags and
// variables, and that each local one starts a server a real MCP client can list tools from.
func TestClientSnippets(t *testing.T) {
	snippets := clientSnippets(t)
	bin := filepath.Join(t.TempDir(), "tallyfy-mcp")
	if out, err := exec.Command("go", "build", "-o", bin, "../..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sb := sandbox.New()
	url, srv, err := sandbox.Listen("127.0.0.1:0", sb)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	started := 0
	for _, s := range snippets {
		if s.url != "" {
			continue // a remote deployment: nothing local to start
		}
		if s.command != "/path/to/tallyfy-mcp" {
			t.Errorf("%s %s: command %q, want /path/to/tallyfy-mcp", s.file, s.name, s.command)
			continue
		}
		for k := range s.env {
			if !knownEnv(k) {
				t.Errorf("%s %s: unknown variable %s", s.file, s.name, k)
			}
		}
		args := slices.Clone(s.args)
		for i, a := range args {
			if strings.HasPrefix(a, "/path/to/") {
				args[i] = filepath.Join(t.TempDir(), filepath.Base(a))
			}
		}
		if _, err := server.ParseConfig(args, func(string) string { return "" }, io.Discard); err != nil {
			t.Errorf("%s %s: args %v: %v", s.file, s.name, s.args, err)
			continue
		}
		env := []string{}
		if !slices.Contains(args, "--sandbox") { // the placeholders point at the test sandbox instead
			env = append(env, "TALLYFY_ACCESS_TOKEN="+sandbox.AdminToken, "TALLYFY_ORG_ID="+sandbox.OrgID, "TALLYFY_BASE_URL="+url)
		}
		t.Run(filepath.Base(s.file)+"/"+s.name, func(t *testing.T) {
			c, err := client.NewStdioMCPClient(bin, env, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
			init.Params.ClientInfo = mcp.Implementation{Name: "docs-test", Version: "0"}
			if _, err := c.Initialize(ctx, init); err != nil {
				t.Fatal(err)
			}
			res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil || len(res.Tools) == 0 {
				t.Fatalf("tools/list: %v (%d tools)", err, len(res.Tools))
			}
		})
		started++
	}
	if started < 12 {
		t.Errorf("only %d snippets could be started", started)
	}
}
