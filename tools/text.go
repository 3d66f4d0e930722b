package tools

import (
	"strconv"
	"strings"
)

// The small text helpers, in one place. An item's name, shown to the person in a confirmation
// question, is written by whoever can rename the item in Tallyfy, so it never reaches a
// question raw: a newline or a bidi control in it could otherwise write a line of the
// question, or make it read differently from what it holds. Every rendering of a name in a
// question goes through quoteName.

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

// Capitalize writes s with its first letter in upper case (a noun that starts a sentence, an
// error shown as one).
func Capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// clip cuts s to n bytes, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sentence is s followed by a space, to start the next sentence; nothing when s is empty.
func sentence(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}
