// Package packaging keeps the install artefacts (manifest.json for MCPB bundles, server.json for
// the MCP registry) consistent with the code: the bundle's tool list comes from a live
// tools/list, and both files' versions and variables from VERSION and the flag table.
package packaging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/inproc"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
)

// ToolEntry is one tool as the MCPB manifest lists it.
type ToolEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// LiveTools starts the server on the sandbox in-process and returns its tools/list.
func LiveTools(ctx context.Context) ([]ToolEntry, error) {
	cfg, err := server.ParseConfig([]string{"--sandbox"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, err
	}
	app, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer app.Close()
	c, err := inproc.Connect(ctx, app.MCP, "packaging")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]ToolEntry, 0, len(res.Tools))
	for _, t := range res.Tools {
		out = append(out, ToolEntry{Name: t.Name, Description: t.Description})
	}
	return out, nil
}

// Version is the release version in the VERSION file at root.
func Version(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "VERSION"))
	return strings.TrimSpace(string(b)), err
}

// UpdateManifest rewrites manifest.json's tools and version from the code, keeping the rest.
func UpdateManifest(ctx context.Context, root string) error {
	path := filepath.Join(root, "manifest.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	tools, err := LiveTools(ctx)
	if err != nil {
		return err
	}
	version, err := Version(root)
	if err != nil {
		return err
	}
	m["tools"], m["version"] = tools, version
	out, err := MarshalManifest(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// MarshalManifest is the checked-in form: two-space indent, keys in a fixed order.
func MarshalManifest(m map[string]any) ([]byte, error) {
	// Round-trip so that typed values (e.g. []ToolEntry) print like decoded ones.
	if b, err := json.Marshal(m); err != nil || json.Unmarshal(b, &m) != nil {
		return nil, fmt.Errorf("manifest.json: cannot encode: %v", err)
	}
	order := []string{"$schema", "manifest_version", "name", "display_name", "version", "description", "long_description",
		"author", "repository", "homepage", "license", "keywords", "server", "tools", "tools_generated", "compatibility", "user_config"}
	var b strings.Builder
	b.WriteString("{\n")
	seen := map[string]bool{}
	keys := []string{}
	for _, k := range order {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	for k := range m {
		if !seen[k] {
			return nil, fmt.Errorf("manifest.json: add %q to the key order in packaging.MarshalManifest", k)
		}
	}
	for i, k := range keys {
		v, err := json.MarshalIndent(m[k], "  ", "  ")
		if err != nil {
			return nil, err
		}
		kb, _ := json.Marshal(k)
		fmt.Fprintf(&b, "  %s: %s", kb, v)
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}
