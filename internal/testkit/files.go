package testkit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// AuditRecords reads an audit log, one record a line.
func AuditRecords(t testing.TB, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TokenSHA256 is the hex SHA-256 a callers file stores for a bearer token.
func TokenSHA256(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// WriteCallers writes a callers file holding entries.
func WriteCallers(t testing.TB, path string, entries ...map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"callers": entries}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// AuditPath is where a test's server writes its audit log: a file in the test's own
// temporary directory.
func AuditPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "audit.jsonl")
}
