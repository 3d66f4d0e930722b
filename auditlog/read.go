// Package auditlog reads the server's audit logs back for the person who reviews what agents
// did: `tallyfy-mcp audit FILE…` (README "Audit"). It streams: records are decoded one at a
// time and several files (one per replica) are merged by time, so memory does not grow with
// the size of the log (docs/performance.md).
package auditlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// maxLine bounds one audit line; the server writes far less (names are clipped).
const maxLine = 1 << 20

// entry is one record with where it came from.
type entry struct {
	rec  audit.Record
	at   time.Time
	file string
	line int
}

// source reads one file's records in order.
type source struct {
	name   string
	sc     *bufio.Scanner
	line   int
	head   entry
	warned []string // lines that could not be read, said once at the end
}

// errNotAudit is returned for a file whose first record is not an audit record.
var errNotAudit = errors.New("not a tallyfy-mcp audit log")

func newSource(name string, r io.Reader) *source {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	return &source{name: name, sc: sc}
}

// next reads the next record into s.head; false at the end. A line that is not a record is
// skipped with a warning (a truncated last line is what a crash mid-write leaves), but a file
// whose first line is not one is refused: it is not an audit log at all.
func (s *source) next() (bool, error) {
	for s.sc.Scan() {
		s.line++
		b := bytes.TrimSpace(s.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec audit.Record
		err := json.Unmarshal(b, &rec)
		at, terr := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil || terr != nil || rec.Tool == "" || rec.Outcome == "" {
			if s.line == 1 {
				return false, fmt.Errorf("%s: %w (line 1 is not an audit record: want JSON lines with time, tool and outcome, as --audit-log writes)", s.name, errNotAudit)
			}
			s.warned = append(s.warned, fmt.Sprintf("%s:%d: not an audit record (a truncated last line is what a crash mid-write leaves); skipped", s.name, s.line))
			continue
		}
		s.head = entry{rec: rec, at: at, file: s.name, line: s.line}
		return true, nil
	}
	if err := s.sc.Err(); err != nil {
		return false, fmt.Errorf("%s: line %d: %w", s.name, s.line+1, err)
	}
	return false, nil
}

// Input is one named audit log.
type Input struct {
	Name string
	R    io.Reader
}

// Each calls fn with every record of every input, merged by time (each file is in time order,
// since it is appended to as calls end; a tie goes to the first name). It returns the warnings
// about skipped lines.
func Each(inputs []Input, fn func(entry) error) ([]string, error) {
	all := make([]*source, 0, len(inputs))
	var live []*source // the sources with a record in head
	for _, in := range inputs {
		s := newSource(in.Name, in.R)
		all = append(all, s)
		ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if ok {
			live = append(live, s)
		}
	}
	for len(live) > 0 {
		i := 0 // the earliest head: one file per replica, so a scan is enough
		for j, s := range live {
			if at := live[i].head.at; s.head.at.Before(at) || s.head.at.Equal(at) && s.name < live[i].name {
				i = j
			}
		}
		s := live[i]
		if err := fn(s.head); err != nil {
			return nil, err
		}
		ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			live = slices.Delete(live, i, i+1)
		}
	}
	var warnings []string
	for _, s := range all {
		warnings = append(warnings, s.warned...)
	}
	return warnings, nil
}
