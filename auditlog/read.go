// Package auditlog reads the server's audit logs back for the person who reviews what agents
// did: `tallyfy-mcp audit FILE…` (README "Audit"). It streams: records are decoded one at a
// time and several files (one per replica) are merged by time, so memory does not grow with
// the size of the log (docs/performance.md).
package auditlog

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// merger yields the records of several sources in time order (each file is in time order,
// since it is appended to as calls end).
type merger []*source

func (m merger) Len() int { return len(m) }
func (m merger) Less(i, j int) bool {
	if !m[i].head.at.Equal(m[j].head.at) {
		return m[i].head.at.Before(m[j].head.at)
	}
	return m[i].name < m[j].name
}
func (m merger) Swap(i, j int) { m[i], m[j] = m[j], m[i] }
func (m *merger) Push(x any)   { *m = append(*m, x.(*source)) }
func (m *merger) Pop() any {
	old := *m
	s := old[len(old)-1]
	*m = old[:len(old)-1]
	return s
}

// Input is one named audit log.
type Input struct {
	Name string
	R    io.Reader
}

// Each calls fn with every record of every input, merged by time. It returns the warnings
// about skipped lines.
func Each(inputs []Input, fn func(entry) error) ([]string, error) {
	all := make([]*source, 0, len(inputs))
	m := &merger{}
	for _, in := range inputs {
		s := newSource(in.Name, in.R)
		all = append(all, s)
		ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if ok {
			heap.Push(m, s)
		}
	}
	for m.Len() > 0 {
		s := (*m)[0]
		if err := fn(s.head); err != nil {
			return nil, err
		}
		ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if ok {
			heap.Fix(m, 0)
		} else {
			heap.Pop(m)
		}
	}
	var warnings []string
	for _, s := range all {
		warnings = append(warnings, s.warned...)
	}
	return warnings, nil
}
