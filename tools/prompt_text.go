package tools

import (
	"strconv"
	"strings"
)

// Text shown to the person in a confirmation question. An item's name is written by whoever
// can rename the item in Tallyfy, so it never reaches a question raw: a newline or a bidi
// control in it could otherwise write a line of the question, or make it read differently
// from what it holds. Every rendering of a name in a question goes through quoteName.

// quoteName is a name as a question shows it: in double quotes, with control, invisible and
// bidi characters (and quotes and backslashes) written as Go escapes such as \n and \u202e.
func quoteName(name string) string { return strconv.Quote(name) }

// quoteAll is quoteName of each name, comma-separated.
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteName(n)
	}
	return strings.Join(q, ", ")
}

// nameTyped reports whether the person typed the item's name: as it is, or as the question
// showed it (quoted, escapes and all), case and surrounding space aside.
func nameTyped(typed, name string) bool {
	typed = strings.TrimSpace(typed)
	shown := quoteName(name)
	return strings.EqualFold(typed, strings.TrimSpace(name)) || strings.EqualFold(typed, shown) ||
		strings.EqualFold(typed, shown[1:len(shown)-1])
}
