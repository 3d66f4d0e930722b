package auditlog

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

const usage = `tallyfy-mcp audit: summarize audit logs for the person who reviews what agents did.

Usage:
  tallyfy-mcp audit [flags] FILE...

Reads the JSON lines --audit-log writes (several replicas' files are merged by time) and prints:
per caller, tool and outcome, how many; every permanent delete with who asked and how it was
confirmed; every intent with no outcome (the process stopped while acting: check that item in
Tallyfy); refusals and failures. It streams, so a large file is fine.

Flags:
  --since WHEN     only records at or after WHEN: a time (2026-12-01 or RFC 3339) or an age (24h)
  --caller NAME    only this caller (the callers-file name or OAuth subject)
  --tool NAME      only this tool
  --outcome WORD   only this outcome (ok, noop, refused, failed, unknown, cancelled, …)
  --json           JSON lines: one event a line, then a summary line
  --csv            CSV: one row an event, then one row per count
`

// Command runs `tallyfy-mcp audit`; the exit code is 0, 1 (a file could not be read) or 2 (usage).
func Command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tallyfy-mcp audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Filter // the flags but --since fill it directly
	since := fs.String("since", "", "")
	fs.StringVar(&f.Caller, "caller", "", "")
	fs.StringVar(&f.Tool, "tool", "", "")
	fs.StringVar(&f.Outcome, "outcome", "", "")
	asJSON := fs.Bool("json", false, "")
	asCSV := fs.Bool("csv", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "tallyfy-mcp audit: %v (see tallyfy-mcp audit --help)\n", err)
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tallyfy-mcp audit: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() == 0 {
		return fail("name at least one audit file (the --audit-log of each replica)")
	}
	if *asJSON && *asCSV {
		return fail("--json and --csv: choose one")
	}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return fail("--since %q: want a time such as 2026-12-01 or 2026-12-01T09:00:00Z, or an age such as 24h", *since)
		}
		f.Since = t
	}
	format := FormatText
	switch {
	case *asJSON:
		format = FormatJSON
	case *asCSV:
		format = FormatCSV
	}
	var inputs []Input
	for _, name := range fs.Args() {
		file, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "tallyfy-mcp audit: %v\n", err)
			return 1
		}
		defer file.Close()
		inputs = append(inputs, Input{Name: name, R: file})
	}
	if err := Report(inputs, f, format, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "tallyfy-mcp audit: %v\n", err)
		return 1
	}
	return 0
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time or an age")
}
