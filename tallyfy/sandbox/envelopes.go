package sandbox

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------------------
// Envelopes (docs/tallyfy-api.md §0 "Response envelopes", §4 "Pagination").

type itemEnvelope struct {
	Data any `json:"data"`
}

// itemAnswer is a 200 with v under data.
func itemAnswer(v any) response { return jsonResponse(http.StatusOK, itemEnvelope{Data: v}) }

type listEnvelope struct {
	Data []any    `json:"data"`
	Meta listMeta `json:"meta"`
}

type listMeta struct {
	Pagination pagination `json:"pagination"`
}

type pagination struct {
	Total       int `json:"total"`
	Count       int `json:"count"`
	PerPage     int `json:"per_page"`
	CurrentPage int `json:"current_page"`
	TotalPages  int `json:"total_pages"`
	// Links is an object with "next"/"previous" when either exists, and an
	// empty array when neither does (both occur in the real API, §4).
	Links any `json:"links"`
}

// messageBody is the template archive / delete body (§1.7, §1.9).
type messageBody struct {
	Message           string `json:"message"`
	DeletedReferences any    `json:"deleted_references"` // {} or a list of reference (templates.go)
}

type paging struct {
	page, perPage int
	all           bool
	// totalPagesSize, when set, is the page size total_pages is computed with instead of
	// perPage (VariantTotalPagesOtherSize).
	totalPagesSize int
}

// parsePaging reads page / per_page / without_pagination. A bad per_page is a
// 422 in the documented validation shape (§4).
func parsePaging(q url.Values) (paging, *response) {
	p := paging{page: 1, perPage: defaultPerPage, all: withoutPaginationTrue(q.Get("without_pagination"))}
	if v := strings.TrimSpace(q.Get("per_page")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			res := validationError("per_page", perPageErrorMessage)
			return p, &res
		}
		p.perPage = min(n, maxPerPage)
	}
	if v := strings.TrimSpace(q.Get("page")); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil && n >= 1 {
			p.page = n
		} else if !invalidPageIsFirstPage {
			res := validationError("page", "The page must be an integer of at least 1.")
			return p, &res
		}
	}
	return p, nil
}

// validationError is a 422 in the documented shape {"error": true, "errors": {field: [msg]}}.
func validationError(field, msg string) response {
	return jsonResponse(http.StatusUnprocessableEntity, map[string]any{"error": true, "errors": map[string][]string{field: {msg}}})
}

// pageOf cuts one page out of items and builds the list envelope, with
// absolute next/previous links built from the request. Without pagination, the one page holds
// every item.
func pageOf(r *http.Request, p paging, items []any) response {
	total := len(items)
	if p.all {
		p = paging{page: 1, perPage: max(total, 1)}
	}
	pages := func(size int) int { return max((total+size-1)/size, minTotalPages) }
	totalPages := pages(p.perPage)
	start := min((p.page-1)*p.perPage, total)
	data := items[start:min(start+p.perPage, total)]
	links := map[string]string{}
	if p.page > 1 {
		links["previous"] = pageURL(r, p.page-1)
	}
	if p.page < totalPages {
		links["next"] = pageURL(r, p.page+1)
	}
	var l any = links
	if len(links) == 0 {
		l = []any{}
	}
	return jsonResponse(http.StatusOK, listEnvelope{Data: append([]any{}, data...), Meta: listMeta{Pagination: pagination{
		Total: total, Count: len(data), PerPage: p.perPage, CurrentPage: p.page, TotalPages: pages(cmp.Or(p.totalPagesSize, p.perPage)), Links: l,
	}}})
}

func pageURL(r *http.Request, page int) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Set("page", strconv.Itoa(page))
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: q.Encode()}
	return u.String()
}

// keep reports whether a list in mode shows a record that is archived or not.
func keep(mode archivedMode, archived bool) bool {
	return mode == archivedInclude || (mode == archivedOnly) == archived
}

// listed is the list of m's items that keep passes, in order, each shown by view.
func listed[T, V any](m map[string]T, keep func(T) bool, order func(a, b T) int, view func(T) V) []any {
	var list []T
	for _, v := range m {
		if keep(v) {
			list = append(list, v)
		}
	}
	slices.SortFunc(list, order)
	items := make([]any, len(list))
	for i, v := range list {
		items[i] = view(v)
	}
	return items
}
