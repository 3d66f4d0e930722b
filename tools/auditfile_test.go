package tools_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// TestAuditFileConcurrentRecords: records from many goroutines (sharing syncs) all land, one
// whole JSON line each, and every Record returns only after its line is in the file.
func TestAuditFileConcurrentRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	rec, err := tools.OpenAuditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := string(rune('a'+i%26)) + "-" + string(rune('0'+i%10))
			if err := rec.Record(context.Background(), tools.Record{Tool: "archive_run", ResourceID: id, Outcome: "ok", DurationMS: float64(i)}); err != nil {
				t.Error(err)
				return
			}
			// Durable before returning: the line is already readable from the file.
			b, err := os.ReadFile(path)
			if err != nil || !json.Valid(lastLineWith(b, float64(i))) {
				t.Errorf("record %d not in the file when Record returned", i)
			}
		})
	}
	wg.Wait()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	seen := map[float64]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r tools.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("torn line %q: %v", sc.Text(), err)
		}
		seen[r.DurationMS] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct records in the file, want %d", len(seen), n)
	}
}

// lastLineWith returns the line whose duration_ms is d, or nil.
func lastLineWith(b []byte, d float64) []byte {
	for _, line := range splitLines(b) {
		var r tools.Record
		if json.Unmarshal(line, &r) == nil && r.DurationMS == d {
			return line
		}
	}
	return nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, b[start:i])
			start = i + 1
		}
	}
	return out
}
