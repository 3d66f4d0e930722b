package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/tallyfy-mcp/tallyfy-mcp/logsafe"
)

// Recorder stores audit records. Record must return only once the record is durable.
type Recorder interface {
	Record(ctx context.Context, r Record) error
}

// LogRecorder writes records to the log (stderr) when no audit file is configured.
type LogRecorder struct{ Logger *slog.Logger }

// Record logs r as one "audit" line, its fields as a group: key=value pairs in text logs
// (record.tool=archive_run record.outcome=ok …), an object in JSON logs.
func (l LogRecorder) Record(ctx context.Context, r Record) error {
	l.Logger.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Attr{Key: "record", Value: slog.GroupValue(r.attrs()...)})
	return nil
}

// recordFields are Record's JSON names, in order, and whether each is left out when empty.
var recordFields = func() (out []jsonField) {
	t := reflect.TypeFor[Record]()
	for i := range t.NumField() {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, jsonField{name, opts == "omitempty"})
	}
	return out
}()

type jsonField struct {
	name      string
	omitEmpty bool
}

// attrs are r's fields as log attributes, named and left out as its JSON is.
func (r Record) attrs() []slog.Attr {
	v := reflect.ValueOf(r)
	out := make([]slog.Attr, 0, len(recordFields))
	for i, f := range recordFields {
		fv := v.Field(i)
		if f.omitEmpty && fv.IsZero() {
			continue
		}
		out = append(out, slog.Any(f.name, fv.Interface()))
	}
	return out
}

// FileRecorder appends JSON lines to a file (created 0600) and syncs each before returning.
// Syncs are shared (group commit): a record returns once a sync that began after its write has
// finished, so concurrent calls wait for one fsync together instead of one each.
type FileRecorder struct {
	mu      sync.Mutex // guards f's writes and written
	f       syncFile
	written uint64 // records written so far
	syncMu  sync.Mutex
	synced  uint64 // records known to be on disk
	syncErr error
}

// OpenFile opens (or creates, mode 0600) path for appending.
func OpenFile(path string) (*FileRecorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return newFileRecorder(f), nil
}

// syncFile is what FileRecorder writes to: an *os.File, or in tests one that counts syncs.
type syncFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

func newFileRecorder(f syncFile) *FileRecorder { return &FileRecorder{f: f} }

// Record appends r as one JSON line and returns once it is synced to disk.
func (a *FileRecorder) Record(_ context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = logsafe.EscapeJSON(b) // no bidi or invisible characters raw in the file
	a.mu.Lock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		a.mu.Unlock()
		return err
	}
	a.written++
	mine := a.written
	a.mu.Unlock()

	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if a.synced >= mine { // a sync that started after this write already covered it
		return a.syncErr
	}
	a.mu.Lock()
	upTo := a.written
	a.mu.Unlock()
	a.syncErr = a.f.Sync()
	a.synced = upTo
	return a.syncErr
}

// Close flushes and closes the file.
func (a *FileRecorder) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.f.Sync(); err != nil {
		_ = a.f.Close()
		return err
	}
	return a.f.Close()
}
