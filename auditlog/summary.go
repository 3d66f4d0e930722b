package auditlog

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/audit"
)

// Filter keeps the records a reviewer asked for; an empty field keeps everything.
type Filter struct {
	Since   time.Time
	Caller  string
	Tool    string
	Outcome string
}

func (f Filter) keep(r audit.Record, at time.Time) bool {
	return (f.Since.IsZero() || !at.Before(f.Since)) &&
		(f.Caller == "" || r.Caller == f.Caller) &&
		(f.Tool == "" || r.Tool == f.Tool) &&
		(f.Outcome == "" || string(r.Outcome) == f.Outcome)
}

// Kind says why a record is listed on its own.
type Kind string

// The kinds of events the report lists one by one.
const (
	KindPermanentDelete Kind = "permanent_delete"
	KindRefused         Kind = "refused"
	KindFailed          Kind = "failed"
	// KindNoOutcome is an intent no outcome followed: the process stopped while acting, so the
	// item's state is unknown until someone looks (README "Audit").
	KindNoOutcome Kind = "intent_without_outcome"
)

// Event is one record worth a line of its own.
type Event struct {
	Kind   Kind         `json:"kind"`
	File   string       `json:"file"`
	Line   int          `json:"line"`
	Record audit.Record `json:"record"`
}

// countKey groups the summary table.
type countKey struct{ Caller, Tool, Outcome string }

// Count is one row of the summary table.
type Count struct {
	Caller  string `json:"caller"`
	Tool    string `json:"tool"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// pendingKey matches an intent with the outcome of the same call: one process writes both,
// so the file is part of it.
type pendingKey struct{ file, session, caller, tool, id, batch string }

// Summary accumulates what the reviewer sees. Its memory is the count table, the intents still
// waiting for their outcome and the last few events of each kind kept for the text report;
// the machine formats stream every event as it comes.
type Summary struct {
	filter  Filter
	emit    func(Event) error // streams events (JSON, CSV); nil for the text report
	Records int
	First   time.Time
	Last    time.Time
	counts  map[countKey]int
	pending map[pendingKey][]entry
	kept    map[Kind][]Event
	seen    map[Kind]int
}

func newSummary(f Filter, emit func(Event) error) *Summary {
	return &Summary{filter: f, emit: emit, counts: map[countKey]int{},
		pending: map[pendingKey][]entry{}, kept: map[Kind][]Event{}, seen: map[Kind]int{}}
}

func keyOf(e entry) pendingKey {
	r := e.rec
	return pendingKey{e.file, r.Session, r.Caller, r.Tool, r.ResourceID, r.BatchID}
}

func (s *Summary) add(e entry) error {
	r := e.rec
	if r.Outcome == "intent" { // matched whatever the filter: its outcome may be kept
		k := keyOf(e)
		s.pending[k] = append(s.pending[k], e)
		return nil
	}
	if k := keyOf(e); len(s.pending[k]) > 0 {
		if q := s.pending[k][1:]; len(q) > 0 {
			s.pending[k] = q
		} else {
			delete(s.pending, k)
		}
	}
	if !s.filter.keep(r, e.at) {
		return nil
	}
	s.Records++
	if s.First.IsZero() {
		s.First = e.at
	}
	s.Last = e.at
	s.counts[countKey{r.Caller, r.Tool, string(r.Outcome)}]++
	switch {
	case r.Tier == string(tools.TierPermanent) && r.Outcome == "ok":
		return s.event(KindPermanentDelete, e)
	case r.Outcome == "refused":
		return s.event(KindRefused, e)
	case r.Outcome == "failed" || r.Outcome == "unknown":
		return s.event(KindFailed, e)
	}
	return nil
}

func (s *Summary) event(k Kind, e entry) error {
	ev := Event{Kind: k, File: e.file, Line: e.line, Record: e.rec}
	s.seen[k]++
	if s.emit != nil {
		return s.emit(ev)
	}
	if q := append(s.kept[k], ev); len(q) > textKeep {
		s.kept[k] = q[1:]
	} else {
		s.kept[k] = q
	}
	return nil
}

// finish turns the intents still waiting into events (the "check this item" list).
func (s *Summary) finish() ([]Event, error) {
	var out []Event
	for _, q := range s.pending {
		for _, e := range q {
			if s.filter.keep(e.rec, e.at) {
				out = append(out, Event{Kind: KindNoOutcome, File: e.file, Line: e.line, Record: e.rec})
			}
		}
	}
	slices.SortFunc(out, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Record.Time, b.Record.Time), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	s.seen[KindNoOutcome] = len(out)
	if s.emit != nil {
		for _, ev := range out {
			if err := s.emit(ev); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Counts is the summary table, by caller, tool and outcome.
func (s *Summary) Counts() []Count {
	out := make([]Count, 0, len(s.counts))
	for k, n := range s.counts {
		out = append(out, Count{k.Caller, k.Tool, k.Outcome, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Tool, b.Tool), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out
}

// Format is how the report is written.
type Format string

// The report's formats.
const (
	FormatText Format = "text"
	FormatJSON Format = "json" // JSON lines: one event a line, then one summary line
	FormatCSV  Format = "csv"  // one row an event, then one row per count
)

var csvHeader = []string{"kind", "time", "caller", "tool", "outcome", "count", "resource_type", "resource_id", "resource_name", "confirmation", "detail", "batch_id", "file", "line"}

// Report reads inputs and writes the report in format to w; warnings about skipped lines go to warn.
func Report(inputs []Input, f Filter, format Format, w, warn io.Writer) error {
	var emit func(Event) error
	var cw *csv.Writer
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		emit = func(ev Event) error { return enc.Encode(ev) }
	case FormatCSV:
		cw = csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
		emit = func(ev Event) error {
			r := ev.Record
			return cw.Write([]string{string(ev.Kind), r.Time, r.Caller, r.Tool, string(r.Outcome), "", r.ResourceType, r.ResourceID, r.ResourceName, string(r.Confirmation), r.Detail, r.BatchID, ev.File, strconv.Itoa(ev.Line)})
		}
	}
	s := newSummary(f, emit)
	warnings, err := Each(inputs, s.add)
	if err != nil {
		return err
	}
	noOutcome, err := s.finish()
	if err != nil {
		return err
	}
	for _, msg := range warnings {
		fmt.Fprintln(warn, "warning:", msg)
	}
	switch format {
	case FormatJSON:
		return json.NewEncoder(w).Encode(struct {
			Kind    string       `json:"kind"`
			Records int          `json:"records"`
			First   string       `json:"first,omitempty"`
			Last    string       `json:"last,omitempty"`
			Events  map[Kind]int `json:"events"`
			Counts  []Count      `json:"counts"`
		}{"summary", s.Records, stamp(s.First), stamp(s.Last), s.seen, s.Counts()})
	case FormatCSV:
		for _, c := range s.Counts() {
			if err := cw.Write([]string{"count", "", c.Caller, c.Tool, c.Outcome, strconv.Itoa(c.Count), "", "", "", "", "", "", "", ""}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	return s.writeText(w, len(inputs), noOutcome)
}

// textKeep is how many of each kind of event the text report shows (the latest).
const textKeep = 50

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Summary) writeText(w io.Writer, files int, noOutcome []Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d audit records from %d file(s)", s.Records, files)
	if s.Records > 0 {
		fmt.Fprintf(&b, ", %s to %s", stamp(s.First), stamp(s.Last))
	}
	b.WriteString("\n\nBy caller, tool and outcome:\n")
	if len(s.counts) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, c := range s.Counts() {
		fmt.Fprintf(&b, "  %-20s %-18s %-22s %6d\n", orDash(c.Caller), c.Tool, c.Outcome, c.Count)
	}
	section := func(title string, k Kind, evs []Event) {
		fmt.Fprintf(&b, "\n%s (%d):\n", title, s.seen[k])
		if len(evs) == 0 {
			b.WriteString("  (none)\n")
		}
		if more := s.seen[k] - len(evs); more > 0 {
			fmt.Fprintf(&b, "  … %d earlier not shown (narrow with --since, or see all with --json or --csv)\n", more)
		}
		for _, ev := range evs {
			r := ev.Record
			fmt.Fprintf(&b, "  %s  %s %s %s %q  caller=%s", r.Time, r.Tool, r.ResourceType, r.ResourceID, r.ResourceName, orDash(r.Caller))
			switch k {
			case KindPermanentDelete:
				fmt.Fprintf(&b, " confirmed=%s", orDash(string(r.Confirmation)))
			default:
				fmt.Fprintf(&b, " outcome=%s", r.Outcome)
				if r.Detail != "" {
					fmt.Fprintf(&b, " detail=%q", r.Detail)
				}
			}
			if r.BatchID != "" {
				fmt.Fprintf(&b, " batch=%s", r.BatchID)
			}
			fmt.Fprintf(&b, "  (%s:%d)\n", ev.File, ev.Line)
		}
	}
	section("Permanent deletes, with how each was confirmed", KindPermanentDelete, s.kept[KindPermanentDelete])
	section("Intents with no outcome: the process stopped while acting; check these items in Tallyfy", KindNoOutcome, noOutcome)
	section("Refusals", KindRefused, s.kept[KindRefused])
	section("Failures and unknown results", KindFailed, s.kept[KindFailed])
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
