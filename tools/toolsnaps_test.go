package tools_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/textdiff"
)

// Tool snapshots, in the style of github-mcp-server's toolsnaps: every tool as a real
// tools/list returns it is compared with tools/__toolsnaps__/<name>.snap, so any change to a
// name, description, annotation or schema shows up in review as a diff of that file.

const snapDir = "__toolsnaps__"

func updateSnaps() bool { return os.Getenv("UPDATE_TOOLSNAPS") == "true" }

// canonical is the snapshot form of a tool's JSON: keys sorted, indented, newline-terminated.
func canonical(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestToolSnapshots(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	names, legacy := rawToolsList(t, h.srv, protocols[0])
	_, modern := rawToolsList(t, h.srv, protocols[1])
	if updateSnaps() {
		if err := os.MkdirAll(snapDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			got := canonical(t, legacy[name])
			if m := canonical(t, modern[name]); !bytes.Equal(got, m) {
				t.Errorf("%s differs between protocol 2025-11-25 and 2026-07-28:\n%s", name, textdiff.Lines("2025-11-25", "2026-07-28", string(got), string(m)))
			}
			path := filepath.Join(snapDir, name+".snap")
			if updateSnaps() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("no snapshot %s for tool %s: create it with UPDATE_TOOLSNAPS=true go test ./tools/ and review the new file", path, name)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("tool %s drifted from its snapshot %s. If the change is intended, update it with UPDATE_TOOLSNAPS=true go test ./tools/ and commit the .snap file.\n%s",
					name, path, textdiff.Lines("snapshot", "tools/list", string(want), string(got)))
			}
		})
	}
	// A snapshot of a tool that no longer exists is stale.
	files, _ := filepath.Glob(filepath.Join(snapDir, "*.snap"))
	for _, f := range files {
		n := strings.TrimSuffix(filepath.Base(f), ".snap")
		if !slices.Contains(names, n) {
			if updateSnaps() {
				_ = os.Remove(f)
				continue
			}
			t.Errorf("snapshot %s belongs to no tool: delete it (UPDATE_TOOLSNAPS=true go test ./tools/ does)", f)
		}
	}
}

// TestLineDiff pins the diff helper the snapshot failures rely on.
func TestLineDiff(t *testing.T) {
	t.Parallel()
	d := textdiff.Lines("snapshot", "tools/list", "a\nb\nc\n", "a\nB\nc\n")
	if !strings.Contains(d, "- b\n+ B\n") || strings.Contains(d, "- a") || strings.Contains(d, "- c") {
		t.Errorf("unexpected diff:\n%s", d)
	}
	if d := textdiff.Lines("snapshot", "tools/list", "x\n", "x\n"); strings.Count(d, "\n") != 2 {
		t.Errorf("equal inputs gave changes:\n%s", d)
	}
}
