// Package logsafe keeps what a client chose to send (its name, version, an item's title) from
// misleading whoever reads the logs and the audit file: text is clipped to a bound, and
// characters that are invisible or reorder the text around them are written as escapes.
package logsafe

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// EscapeJSON returns JSON text b with every non-printable character of its strings written as
// a \uXXXX escape: bidi controls (U+202A–U+202E, U+2066–U+2069) and the other format characters
// (category Cf), C1 controls, line and paragraph separators. encoding/json leaves those raw,
// so a name such as "admin\u202Egnp.exe" would display reversed in a terminal or an editor.
// "Printable" is strconv.IsPrint, the test text logs pass through (they quote with strconv),
// so the three outputs escape the same characters. The JSON still decodes to the same value.
// Such characters can occur only inside JSON strings, so the escapes are always valid. b is
// returned unchanged (not copied) when it holds nothing to escape: the common case costs a
// scan for bytes ≥ 0x80.
func EscapeJSON(b []byte) []byte {
	i := firstUnprintable(b)
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || strconv.IsPrint(r) {
			out = append(out, b[i:i+n]...)
		} else if r > 0xFFFF {
			r1, r2 := utf16.EncodeRune(r)
			out = appendEscape(appendEscape(out, r1), r2)
		} else {
			out = appendEscape(out, r)
		}
		i += n
	}
	return out
}

func firstUnprintable(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if (r != utf8.RuneError || n != 1) && !strconv.IsPrint(r) {
			return i
		}
		i += n
	}
	return -1
}

func appendEscape(out []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(out, '\\', 'u', hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
}

// ClientTextMax bounds what the server keeps of a client's self-description (clientInfo name
// and version): enough for any real client, small enough that a session or an audit record
// cannot be made to carry megabytes.
const ClientTextMax = 200

// Clip returns s cut to at most max runes, ending in "…" when something was cut (so a reader
// sees the value is not whole). It never splits a UTF-8 sequence.
func Clip(s string, max int) string {
	if len(s) <= max { // bytes ≥ runes: nothing to cut
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			if utf8.RuneCountInString(s[i:]) > 1 {
				return s[:i] + "…"
			}
			return s
		}
		n++
	}
	return s
}

// ClipHeader cuts a header (or other client-sent) value shown in an answer or a log line to
// 100 bytes, ending in "…" when something was cut.
func ClipHeader(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
