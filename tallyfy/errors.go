package tallyfy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is any non-2xx answer from Tallyfy, whatever shape its body had (docs/tallyfy-api.md §4).
type APIError struct {
	Status     int
	Code       string
	Message    string
	Fields     map[string][]string
	RequestID  string
	RetryAfter time.Duration // from Retry-After on 429/503; zero when absent
	Method     string
	Path       string // the request path, for logs; never holds a token
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tallyfy: %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Fields) > 0 {
		b.WriteString(" (" + e.FieldSummary() + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request " + e.RequestID + "]")
	}
	return b.String()
}

// FieldSummary renders field errors as "field: msg; field2: msg" in a stable order.
func (e *APIError) FieldSummary() string {
	parts := make([]string, 0, len(e.Fields))
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, k+": "+strings.Join(e.Fields[k], " "))
	}
	// The fields come from the response body: keep the summary short whatever it held.
	return Truncate(strings.Join(parts, "; "), maxFieldSummary)
}

// maxFieldSummary bounds FieldSummary (and so Error) however large a validation body is.
const maxFieldSummary = 500

// IsNotFound reports a 404 of a missing resource (not a wrong path).
func (e *APIError) IsNotFound() bool {
	return e.Status == http.StatusNotFound && e.Code != "ENDPOINT_NOT_FOUND"
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or 0.
func StatusOf(err error) int {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether err is Tallyfy's "resource not found".
func IsNotFound(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	return ok && ae.IsNotFound()
}

// InvalidIDError is returned before any request is built when an ID is not 32 lowercase hex.
type InvalidIDError struct {
	Kind Kind
	ID   string
}

func (e *InvalidIDError) Error() string {
	return fmt.Sprintf("invalid %s id %q: Tallyfy ids are 32 lowercase hex characters (%s)", e.Kind, Truncate(e.ID, 80), IDPattern)
}

// ResponseError is a 2xx answer whose body could not be used: not JSON, truncated or too large.
type ResponseError struct {
	Status      int
	RequestID   string
	ContentType string
	Reason      string
	Method      string
	Path        string
	// TooLarge marks a body over the cap (Config.MaxBodyBytes): a list asks again with a
	// smaller per_page (listPage, list.go).
	TooLarge bool
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("tallyfy: %s %s: %d with an unusable body: %s", e.Method, e.Path, e.Status, e.Reason)
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// errorBody covers every error shape Tallyfy is known to send (docs/tallyfy-api.md §4):
//
//	{"error":true,"message":"…","code":"…"}
//	{"error":true,"errors":{"field":["…"]}}
//	{"message":"The given data was invalid.","errors":{…}}
//	{"error":{"code":"…","message":"…","details":…}}
//	{"message":"You've reached the hourly limit…","code":"RATE_LIMIT_EXCEEDED"}
//	{"error":"invalid_client"}
type errorBody struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
	Code    json.RawMessage `json:"code"`
	Errors  json.RawMessage `json:"errors"`
}

// parseAPIError builds an APIError from a status, headers and (capped) body.
func parseAPIError(status int, h http.Header, body []byte, method, path string) *APIError {
	e := &APIError{Status: status, RequestID: h.Get("X-Request-Id"), Method: method, Path: path}
	e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Message = eb.Message
		e.Code = codeString(eb.Code)
		var nested struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		}
		var str string
		switch {
		case json.Unmarshal(eb.Error, &nested) == nil && (nested.Message != "" || len(nested.Code) > 0):
			if nested.Message != "" {
				e.Message = nested.Message
			}
			if c := codeString(nested.Code); c != "" {
				e.Code = c
			}
			if f := parseFields(nested.Details); len(f) > 0 {
				e.Fields = f
			}
		case json.Unmarshal(eb.Error, &str) == nil && str != "" && e.Code == "":
			e.Code = Truncate(str, 80)
		}
		if f := parseFields(eb.Errors); len(f) > 0 {
			e.Fields = f
		}
	}
	if strings.TrimSpace(e.Message) == "" { // "HTTP 599" for a status Go has no text for
		e.Message = cmp.Or(http.StatusText(status), fmt.Sprintf("HTTP %d", status))
	}
	e.Message = Truncate(e.Message, 300)
	return e
}

func codeString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return Truncate(s, 80)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// parseFields accepts {"field":["msg",…]} and {"field":"msg"}.
func parseFields(raw json.RawMessage) map[string][]string {
	var generic map[string]json.RawMessage
	if json.Unmarshal(raw, &generic) != nil || len(generic) == 0 {
		return nil
	}
	out := make(map[string][]string, len(generic))
	for k, v := range generic {
		var list []string
		var one string
		switch {
		case json.Unmarshal(v, &list) == nil:
			out[k] = list
		case json.Unmarshal(v, &one) == nil:
			out[k] = []string{one}
		}
	}
	return out
}

// parseRetryAfter reads Retry-After in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		if secs > maxRetryAfterSecs { // time.Duration would overflow into a negative wait
			secs = maxRetryAfterSecs
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// maxRetryAfterSecs caps a Retry-After in seconds (a year) so it fits a time.Duration.
const maxRetryAfterSecs = 365 * 24 * 3600

// Truncate cuts s to at most n bytes, on a rune boundary, marking the cut with "…" (also how
// the check clips what Tallyfy sent).
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
