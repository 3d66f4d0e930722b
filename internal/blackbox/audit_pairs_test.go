package blackbox

import (
	"fmt"
	"testing"
)

// outcomeRecords checks the intent records among audit records and returns the others (one
// per call), leaving out the signed approval records of confirmations. Audit before act: every change ("ok") is preceded by an intent record of the same
// call (same tool, resource, session and start time), and every intent is followed by exactly
// one outcome record of its call.
func outcomeRecords(t testing.TB, recs []map[string]any) (outcomes []map[string]any, intents int) {
	t.Helper()
	key := func(r map[string]any) string {
		return fmt.Sprint(r["tool"], "|", r["resource_id"], "|", r["session"], "|", r["time"])
	}
	open := map[string]int{}
	for i, r := range recs {
		k := key(r)
		if r["outcome"] == "approval" { // a confirmation's signed record, not a call's outcome
			continue
		}
		if r["outcome"] == "intent" {
			if open[k] != 0 {
				t.Errorf("audit record %d: a second intent for one call: %v", i, r)
			}
			open[k]++
			intents++
			continue
		}
		switch {
		case open[k] > 0:
			delete(open, k)
		case r["outcome"] == "ok": // "ok" is only ever a change (unchanged is "noop")
			t.Errorf("audit record %d: a change with no intent record before it: %v", i, r)
		}
		outcomes = append(outcomes, r)
	}
	for k := range open {
		t.Errorf("an intent record with no outcome after it: %s", k)
	}
	return outcomes, intents
}
