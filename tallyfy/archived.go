package tallyfy

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"time"
)

// archivedScope is how a look-up searches one collection's archived items: with the
// narrowest filters Tallyfy documents for it, in a documented order, so that a bounded search
// reads the items most likely asked about first (docs/tallyfy-api.md §2.2, §2.4, §2.6).
type archivedScope struct {
	extra url.Values // filters besides archived=only
	// fallback replaces extra, beside archived=only, when the listing turns out not to filter
	// on archived (findArchived).
	fallback url.Values
	sort     string // sort parameter ("" leaves the list's own default)
	order    string // the order in words, for messages
	noun     string // what is searched, for messages
}

// The default bounds of an archived search (Config.ArchivedSearchPages, ArchivedSearchTimeout).
const (
	DefaultArchivedSearchPages   = 10
	DefaultArchivedSearchTimeout = 20 * time.Second
	archivedSearchPerPage        = maxPerPage
)

// archivedSearch is what one search of an archived listing read.
type archivedSearch struct {
	ArchivedNote
	complete bool // the listing was read to its end
}

// findArchived looks for ids among a collection's archived items, newest first, within the
// client's bounds: at most ArchivedSearchPages pages of 100 and ArchivedSearchTimeout. Tallyfy
// answers 404 to a GET of an archived template (and, per INFERENCE in docs/tallyfy-api.md §2.1,
// possibly of an archived task), so the archived listing is the only way to see one; an old
// organization holds tens of thousands (Tallyfy archives completed processes after a year by
// default), so the search is bounded and says how far it went.
//
// A listing that returns items which say they are live did not filter on archived (the docs
// document status=archived for runs, Tallyfy's MCP archived=only: §2.4): such a listing is
// tried once with the scope's fallback filters, and a search over one that still does not
// filter is never complete, since it cannot show that an archived item is absent.
//
// It stops when every one was found, and returns those found.
func (k kindAPI[T, W, PW]) findArchived(ctx context.Context, c *Client, ids []string) (map[string]*T, archivedSearch, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := make(map[string]*T, len(ids))
	scope := k.scope
	sctx, cancel := context.WithTimeout(ctx, c.cfg.ArchivedSearchTimeout)
	defer cancel()
	s := archivedSearch{ArchivedNote: ArchivedNote{Scope: scope.noun, Order: scope.order}}
	opts := ListOptions{Archived: ArchivedOnly, PerPage: archivedSearchPerPage, Sort: scope.sort}
	extra := scope.extra
	triedFallback := false
	for page, read := 1, 0; read < c.cfg.ArchivedSearchPages; page, read = page+1, read+1 {
		opts.Page = page
		p, err := k.query(sctx, c, opts, extra)
		if err != nil || !p.memoized {
			s.Requests++
		}
		if rejectsStatusAll(err) && extra.Get("status") == TaskStatusAll && read+1 < c.cfg.ArchivedSearchPages {
			// status=all refused (page, list.go): this page again without it.
			extra = maps.Clone(extra) // the scope's own stays as it is
			extra.Del("status")
			p, err = k.query(sctx, c, opts, extra)
			s.Requests++
			read++
		}
		if err != nil {
			if ctx.Err() == nil && sctx.Err() != nil {
				// Our own time bound, not the caller's: what was read so far is the answer.
				s.TimedOut = true
				return found, s, nil
			}
			return found, s, err
		}
		s.Total = p.Pagination.Total
		s.Searched += len(p.Items)
		leaks := false
		for i := range p.Items {
			it := any(&p.Items[i]).(Item)
			if id := it.Entity().ID; want[id] && found[id] == nil {
				found[id] = &p.Items[i]
				if len(found) == len(want) {
					return found, s, nil
				}
			}
			if it.archivedState() == archivedNo {
				leaks = true // the item's own word: the listing did not filter
			}
		}
		if leaks && !triedFallback && scope.fallback != nil {
			// Read the archived ones with the other documented filter too, from its first page.
			triedFallback, s.Unfiltered = true, false
			extra = scope.fallback
			page, s.Searched, s.Total = 0, 0, 0
			continue
		}
		s.Unfiltered = s.Unfiltered || leaks
		// An empty page ends the list; a short one does not (fixed page sizes), and the total
		// says whether more remain (Page.Ends).
		if p.Ends(s.Searched) {
			s.complete = !s.Unfiltered
			break
		}
	}
	return found, s, nil
}

// settle settles the archived state of listed items that did not say it (an
// archived=include listing of tasks or templates: docs/tallyfy-api.md §7) from the archived
// listing, within the archived search's bounds: found there, archived; absent from a listing
// read to its end, live; otherwise still unknown. It returns how many stay unknown and what
// was searched, for the result to say so.
func (k kindAPI[T, W, PW]) settle(ctx context.Context, c *Client, items []Item) (ArchivedNote, error) {
	var ids []string
	for _, it := range items {
		if !it.archivedState().known() {
			ids = append(ids, it.Entity().ID)
		}
	}
	if len(ids) == 0 {
		return ArchivedNote{}, nil
	}
	found, s, err := k.findArchived(ctx, c, ids)
	if err != nil && ctx.Err() != nil {
		return ArchivedNote{}, err
	}
	note := s.ArchivedNote
	for _, it := range items {
		if it.archivedState().known() {
			continue
		}
		f := found[it.Entity().ID]
		var own archivedState
		if f != nil {
			own = any(f).(Item).archivedState()
		}
		switch {
		case own.known(): // the item's own word in the archived listing wins
			it.setArchived(own)
		case f != nil && !s.Unfiltered:
			it.setArchived(archivedYes)
		case f == nil && err == nil && s.complete:
			it.setArchived(archivedNo)
		default:
			note.Unknown++
		}
	}
	return note, nil
}

// ArchivedNote says how far a bounded search of an archived listing went and, when it settled
// a listing's items (Client.Settle), how many stay unknown after it.
type ArchivedNote struct {
	Unknown  int
	Scope    string // what was searched: "archived one-off tasks"
	Order    string // in which order: "newest"
	Searched int    // archived items read
	Total    int    // archived items Tallyfy counts there (0: not said)
	Requests int    // requests sent (a look-up's GET included)
	TimedOut bool   // the time bound ended the search
	// Unfiltered: the archived listing also returned live items (it ignored archived), so it
	// could not show that an item is absent.
	Unfiltered bool
}

// ArchivedSearchError is a look-up that Tallyfy's answers could not settle within the
// archived search's bounds (Config.ArchivedSearchPages, ArchivedSearchTimeout): the item is
// not among the archived items read, and more were not read. It is not a not-found (IsNotFound
// is false): the item may be an older archived one.
type ArchivedSearchError struct {
	Kind Kind
	ID   string
	// Exists is true when Tallyfy's GET returned the item but did not say whether it is
	// archived; false when the GET answered 404.
	Exists bool
	ArchivedNote
}

// Summary says how far the search went: "not among the newest 1000 archived one-off tasks
// (of 23456; searched in 11 requests)".
func (e *ArchivedSearchError) Summary() string {
	of := ""
	if e.Total > 0 {
		of = fmt.Sprintf("of %d, ", e.Total)
	}
	why := ""
	if e.TimedOut {
		why = ", stopped by the time bound"
	}
	if e.Unfiltered {
		why += "; Tallyfy's archived listing also returned live items, so it cannot show an absence"
	}
	return fmt.Sprintf("not among the %s %d %s (%ssearched in %d requests%s)", e.Order, e.Searched, e.Scope, of, e.Requests, why)
}

func (e *ArchivedSearchError) Error() string {
	if e.Exists {
		return fmt.Sprintf("tallyfy: Tallyfy did not say whether %s %s is archived, and it is %s", e.Kind, Truncate(e.ID, 80), e.Summary())
	}
	return fmt.Sprintf("tallyfy: %s %s not found: Tallyfy answered 404 to reading it, and it is %s", e.Kind, Truncate(e.ID, 80), e.Summary())
}

// find GETs one item and, on 404, looks for it among the archived ones (findArchived: bounded).
// An item whose GET said nothing about its archived state (no archived_at) is settled from the
// archived listing too, as callers decide archive, restore and delete on it.
func (k kindAPI[T, W, PW]) find(ctx context.Context, c *Client, id string) (Item, error) {
	got, err := k.get(ctx, c, id)
	var live Item // what the GET returned, when it did
	if err == nil {
		if live = any(got).(Item); live.archivedState().known() {
			return live, nil
		}
	} else if !IsNotFound(err) {
		return nil, err
	}
	archived, s, ferr := k.findArchived(ctx, c, []string{id})
	found := archived[id]
	switch {
	case ferr != nil:
		// The archived listing failed: whether the item exists or is archived is unknown, so
		// do not report a GET's 404 (callers read "not found" as "gone").
		return nil, ferr
	case found != nil && live != nil:
		live.setArchived(archivedYes)
		return live, nil
	case found != nil:
		return any(found).(Item), nil
	case !s.complete:
		s.Requests++ // the GET
		return nil, &ArchivedSearchError{Kind: k.kind, ID: id, Exists: live != nil, ArchivedNote: s.ArchivedNote}
	case live != nil:
		live.setArchived(archivedNo)
		return live, nil
	}
	// Neither live nor among all the archived ones: unless it was restored between the two
	// reads (then a second GET finds it), it is gone.
	if got, err = k.get(ctx, c, id); err != nil {
		return nil, err
	}
	return any(got).(Item), nil
}
