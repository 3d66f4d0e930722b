package sandbox

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Variants are the behaviours of Tallyfy that no public source settles (docs/tallyfy-api.md
// §7, issue 18 point 10). The sandbox's default answer for each is in inference.go; a variant
// switches the sandbox to the other answer the sources allow, so that a test (or a person with
// `tallyfy-mcp sandbox --variant …`, or the in-process sandbox's --sandbox-variant) can check
// that the server tells the truth under every Tallyfy the sources allow. Each variant is one
// switch off the default; any set of them may be on at once.
//
// Each file that implements variants describes them, with a one-line description and the
// sources behind them, in a table (lifecycleVariants here, listingVariants in
// variants_listing.go); AllVariants lists the tables' rows, so a matrix test cannot miss a
// new one.

// Variant names one switch off the sandbox's default behaviour.
type Variant string

// The lifecycle variants (this file's; variants_listing.go has the listing ones).
const (
	// VariantMillisecondStamps stamps changes with milliseconds (".123Z") instead of whole
	// seconds, the default.
	VariantMillisecondStamps Variant = "millisecond-stamps"
	// VariantArchiveArchived200 answers 200 (nothing changed) to archiving an archived item
	// instead of 404.
	VariantArchiveArchived200 Variant = "archive-archived-200"
	// VariantRestoreLive200 answers 200 with the unchanged item to restoring a live task or
	// template instead of 422.
	VariantRestoreLive200 Variant = "restore-live-200"
	// VariantActivateLiveError answers 422 to activating a live run instead of 200.
	VariantActivateLiveError Variant = "activate-live-error"
	// VariantTaskDeleteArchived404 answers 404 to the hard delete of an archived one-off task
	// (the delete does not find it once archived), and the task stays.
	VariantTaskDeleteArchived404 Variant = "task-delete-archived-404"
	// VariantArchivedTaskGet200 answers GET of an archived task with the task instead of 404.
	VariantArchivedTaskGet200 Variant = "archived-task-get-200"
	// VariantArchivedRunGet404 answers GET of an archived run with 404 instead of the run.
	VariantArchivedRunGet404 Variant = "archived-run-get-404"
	// VariantListingLag serves listings from a replica that lags ListingLag behind changes.
	VariantListingLag Variant = "listing-lag"
)

// ListingLag is how far the listings lag behind changes under VariantListingLag.
const ListingLag = 1500 * time.Millisecond

// VariantInfo describes a variant: what it switches and the sources that allow it.
type VariantInfo struct {
	Variant     Variant
	Description string // one line: the behaviour under the variant (and the default it replaces)
	Sources     string // the sources that allow it (tallyfy/testdata/contract/SOURCES.md, docs/tallyfy-api.md §7)
	// Rewrite: the evidence for one of the two answers is text the docs' 2026-03-01 rewrite
	// introduced, weaker than older text.
	Rewrite bool
}

var lifecycleVariants = []VariantInfo{
	{VariantMillisecondStamps,
		"changes are stamped with milliseconds (2026-07-01T08:30:00.123Z); default: whole seconds (2026-07-01T08:30:00Z)",
		"connector swagger Date format YYYY-mm-ddTHH:ii:ssZ and every docs example are whole seconds; the docs' get-task example shows .000Z", false},
	{VariantArchiveArchived200,
		"archiving an archived task, run or template answers 200 and changes nothing; default: 404",
		"no source documents it; docs archive pages list 404 for an unknown ID only (docs/tallyfy-api.md §1.1, §1.4, §1.7)", false},
	{VariantRestoreLive200,
		"restoring a live one-off task or template answers 200 with the unchanged item; default: 422",
		"no source documents the restore errors (docs/tallyfy-api.md §1.2, §1.8)", false},
	{VariantActivateLiveError,
		"activating a live run answers 422; default: 200 with the unchanged run",
		"docs activate-process said until 2026-03-01 that activating a run that was not archived returns an error; the rewrite dropped it, so the default rests on its silence (docs/tallyfy-api.md §1.5)", true},
	{VariantTaskDeleteArchived404,
		"the hard delete of an archived one-off task answers 404 and the task stays; default: deleted",
		"docs delete-task does not say whether the delete finds an archived task; its 404 sentence came with the 2026-03-01 rewrite (docs/tallyfy-api.md §1.3)", true},
	{VariantArchivedTaskGet200,
		"GET of an archived task answers with the task (archived_at set); default: 404",
		"docs get-task does not say (docs/tallyfy-api.md §2.1, INFERENCE); its example shows archived_at since the 2026-03-01 rewrite", true},
	{VariantArchivedRunGet404,
		"GET of an archived run answers 404; default: the run with status archived",
		"docs get-process does not say (docs/tallyfy-api.md §2.3, INFERENCE); since the 2026-03-01 rewrite it says archived_at maps from deleted_at", true},
	{VariantListingLag,
		"listings lag " + ListingLag.String() + " behind changes (a read replica); default: listings are current",
		"Tallyfy's MCP server and docs do not promise read-your-writes on listings (docs/tallyfy-api.md §7)", false},
}

// allVariants is every variant, sorted by name.
var allVariants = func() []VariantInfo {
	all := slices.Concat(lifecycleVariants, listingVariants)
	slices.SortFunc(all, func(a, b VariantInfo) int { return strings.Compare(string(a.Variant), string(b.Variant)) })
	return all
}()

// AllVariants returns every variant, sorted by name.
func AllVariants() []VariantInfo { return slices.Clone(allVariants) }

// ParseVariants reads a comma-separated list of variant names ("" or "default": none).
// Unknown names are an error that lists the known ones.
func ParseVariants(spec string) ([]Variant, error) {
	var out []Variant
	for _, part := range strings.Split(spec, ",") {
		name := strings.ToLower(strings.TrimSpace(part))
		if name == "" || name == "default" {
			continue
		}
		v := Variant(name)
		if !slices.ContainsFunc(allVariants, func(in VariantInfo) bool { return in.Variant == v }) {
			names := make([]string, len(allVariants))
			for i, in := range allVariants {
				names[i] = string(in.Variant)
			}
			return nil, fmt.Errorf("unknown sandbox variant %q; known: %s", name, strings.Join(names, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// WithVariants starts the sandbox with these variants on.
func WithVariants(vs ...Variant) Option {
	return func(s *Sandbox) { s.SetVariants(vs...) }
}

// SetVariants replaces the variants the sandbox runs with (none: the defaults). It may be
// called while the sandbox serves; requests already being answered may see either set.
func (s *Sandbox) SetVariants(vs ...Variant) {
	set := variantSet{on: slices.Compact(slices.Sorted(slices.Values(vs))), header: "default"}
	if len(set.on) > 0 {
		names := make([]string, len(set.on))
		for i, v := range set.on {
			names[i] = string(v)
		}
		set.header = strings.Join(names, ",")
	}
	s.variants.Store(&set)
	s.dropReplica()
}

// variantSet is the variants on, sorted, and the VariantsHeader value naming them.
type variantSet struct {
	on     []Variant
	header string
}

// dropReplica forgets the listings' copy (VariantListingLag): the listings read the state again.
func (s *Sandbox) dropReplica() {
	s.replicaMu.Lock()
	s.replica = nil
	s.replicaMu.Unlock()
}

// Variants returns the variants on, sorted.
func (s *Sandbox) Variants() []Variant { return slices.Clone(s.variants.Load().on) }

// has reports whether variant v is on.
func (s *Sandbox) has(v Variant) bool { return slices.Contains(s.variants.Load().on, v) }

// stamp formats the time of a change now: whole seconds by default, milliseconds under
// VariantMillisecondStamps.
func (s *Sandbox) stamp() string {
	if s.has(VariantMillisecondStamps) {
		return s.now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return s.now().UTC().Format("2006-01-02T15:04:05Z")
}

// ---------------------------------------------------------------------------
// Listing replica (VariantListingLag).

// listState is the state listings read: under VariantListingLag, a copy taken when the first
// change after a quiet ListingLag came in, until ListingLag has passed; else the state itself.
// The caller holds s.mu.
func (s *Sandbox) listState() *state {
	if !s.has(VariantListingLag) {
		return s.st
	}
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	return cmp.Or(s.freshReplica(), s.st)
}

// changing is called, with s.mu held, before a handler changes the state, and returns the
// change's stamp. Under VariantListingLag it keeps the state as it was for the listings, unless
// a copy younger than ListingLag is already kept.
func (s *Sandbox) changing() (stamp string) {
	if s.has(VariantListingLag) {
		s.replicaMu.Lock()
		if s.freshReplica() == nil {
			s.replica, s.replicaAt = s.st.clone(), time.Now()
		}
		s.replicaMu.Unlock()
	}
	return s.stamp()
}

// freshReplica is the listings' copy while it is younger than ListingLag, else nil. The caller
// holds s.replicaMu.
func (s *Sandbox) freshReplica() *state {
	if s.replica != nil && time.Since(s.replicaAt) < ListingLag {
		return s.replica
	}
	return nil
}

// clone copies the state deeply enough that later changes to s.st do not show in it.
func (st *state) clone() *state {
	c := &state{tasks: cloneItems(st.tasks), runs: cloneItems(st.runs), templates: cloneItems(st.templates), created: st.created}
	for _, t := range c.tasks {
		t.Owners = slices.Clone(t.Owners)
	}
	return c
}

// cloneItems copies each item of a kind.
func cloneItems[T any](items map[string]*T) map[string]*T {
	c := make(map[string]*T, len(items))
	for id, it := range items {
		v := *it
		c[id] = &v
	}
	return c
}
