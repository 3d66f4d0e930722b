package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lmittmann/tint"
)

func TestAuditFileErrors(t *testing.T) {
	t.Parallel()
	if _, err := OpenFile(filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")); err == nil || !strings.Contains(err.Error(), "audit log") {
		t.Errorf("OpenAuditFile in a missing directory: %v", err)
	}
}

// Without an audit file the record goes to the log: JSON logs carry it as an object, text logs
// as key=value pairs (not escaped JSON), and a name from Tallyfy cannot put a terminal escape in either.
func TestLogRecorderFormats(t *testing.T) {
	rec := Record{Tool: "archive_run", Outcome: "ok", ResourceName: "Q3 \x1b[31mred\x1b[0m \u009b plan", DurationMS: 12.5}
	var jb bytes.Buffer
	if err := (LogRecorder{Logger: slog.New(slog.NewJSONHandler(&jb, nil))}).Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var line struct {
		Msg    string `json:"msg"`
		Record Record `json:"record"`
	}
	if err := json.Unmarshal(jb.Bytes(), &line); err != nil || line.Msg != "audit" || !reflect.DeepEqual(line.Record, rec) {
		t.Errorf("JSON log: want msg audit and the record as an object, got %s (%v)", jb.Bytes(), err)
	}
	if strings.Contains(jb.String(), `"resource_id"`) {
		t.Errorf("JSON log: an empty omitempty field is written: %s", jb.Bytes())
	}
	var tb bytes.Buffer
	if err := (LogRecorder{Logger: slog.New(tint.NewTextHandler(&tb, &tint.Options{NoColor: true}))}).Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	text := tb.String()
	for _, kv := range []string{"record.tool=archive_run", "record.outcome=ok", "record.duration_ms=12.5", "record.confirm_mode="} {
		if !strings.Contains(text, kv) {
			t.Errorf("text log lacks %s: %q", kv, text)
		}
	}
	if strings.Contains(text, `\"tool\"`) || strings.Contains(text, "record.resource_id") {
		t.Errorf("text log: want key=value pairs without empty optional fields, got %q", text)
	}
	if strings.ContainsAny(text, "\x1b\u009b") {
		t.Errorf("text log carries a raw terminal escape: %q", text)
	}
}
