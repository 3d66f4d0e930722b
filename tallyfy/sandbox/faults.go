package sandbox

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault is one fault-injection rule. It applies to a request (after
// authentication, the organization check and the admin check, so 401 and 403
// stay reliable) when Method (case-insensitive) and PathContains (a substring
// of the URL path) match; empty means any.
//
// Kinds and their Param:
//
//	latency       delay the request by Param (a Go duration, default 100ms), then go on
//	429           answer 429 with Retry-After: Param seconds ("" = 2), or an HTTP-date
//	              2 s ahead when Param is "date", or no Retry-After when Param is "none"
//	500 502 503 504  answer that status with {"error":true,"message":"Server Error","code":"SERVER_ERROR"}
//	reset-before  drop the connection without processing the request
//	reset-after   process the request (state changes), then drop the connection unanswered
//	truncated     process the request, then send only the first half of the JSON body
//	              with the right status; Param "short" also declares the full
//	              Content-Length, so the client sees an unexpected EOF
//	html          answer 200 text/html "<html><body>Bad Gateway</body></html>" without processing
//	oversized     answer 200 with a valid JSON body of Param bytes (default 8MiB; suffixes
//	              K/KB/KiB, M/MB/MiB are binary multiples), streamed
//	hang          never answer; return when the request context is done
//
// Probability 0 (or missing) means 1. Times 0 means unlimited. Latency rules
// add up; the first other rule that fires decides the outcome.
type Fault struct {
	Kind         string
	Probability  float64
	Times        int
	Method       string
	PathContains string
	Param        string
}

const (
	faultLatency     = "latency"
	fault429         = "429"
	fault500         = "500"
	fault502         = "502"
	fault503         = "503"
	fault504         = "504"
	faultResetBefore = "reset-before"
	faultResetAfter  = "reset-after"
	faultTruncated   = "truncated"
	faultHTML        = "html"
	faultOversized   = "oversized"
	faultHang        = "hang"
)

var faultKinds = []string{
	faultLatency, fault429, fault500, fault502, fault503, fault504,
	faultResetBefore, faultResetAfter, faultTruncated, faultHTML, faultOversized, faultHang,
}

const (
	defaultLatency       = 100 * time.Millisecond
	defaultRetryAfter    = "2"
	defaultOversizeBytes = 8 << 20
	htmlBody             = "<html><body>Bad Gateway</body></html>"
)

type faultState struct {
	f     Fault
	fired int
}

// WithFaultSeed seeds the random source used for fault probabilities, so runs
// are reproducible. The default seed is 1.
func WithFaultSeed(seed int64) Option {
	return func(s *Sandbox) { s.rng = rand.New(rand.NewPCG(uint64(seed), 0)) }
}

// SetFaults replaces the fault rules; SetFaults() clears them. Each rule's
// Times budget starts afresh. Rules of an unknown kind never fire.
func (s *Sandbox) SetFaults(faults ...Fault) {
	fs := make([]faultState, len(faults))
	for i, f := range faults {
		fs[i] = faultState{f: f}
	}
	s.faultMu.Lock()
	s.faults = fs
	s.faultMu.Unlock()
}

// ParseFaults parses a comma-separated list of rules, each
//
//	kind[=param][@probability][#times][:METHOD][~pathfragment]
//
// for example "429=2@0.1,latency=50ms,reset-after#1:DELETE~/runs/". The
// modifiers may come in any order, each at most once; "~" takes the rest of
// the rule. An empty spec gives no faults.
func ParseFaults(spec string) ([]Fault, error) {
	var out []Fault
	for _, raw := range strings.Split(spec, ",") {
		rule := strings.TrimSpace(raw)
		if rule == "" {
			continue
		}
		f, err := parseFaultRule(rule)
		if err != nil {
			return nil, fmt.Errorf("sandbox: bad fault rule %q: %v (valid kinds: %s; syntax: kind[=param][@probability][#times][:METHOD][~pathfragment])",
				rule, err, strings.Join(faultKinds, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFaultRule(rule string) (Fault, error) {
	// upTo is where the part that starts s ends: at the next marker, or at the end.
	const markers = "=@#:~"
	upTo := func(s string) int {
		if j := strings.IndexAny(s, markers); j >= 0 {
			return j
		}
		return len(s)
	}
	i := upTo(rule)
	f := Fault{Kind: strings.ToLower(strings.TrimSpace(rule[:i]))}
	if !slices.Contains(faultKinds, f.Kind) {
		if f.Kind == "" {
			return f, errors.New("missing kind")
		}
		return f, fmt.Errorf("unknown kind %q", f.Kind)
	}
	seen := map[byte]bool{}
	for rest := rule[i:]; rest != ""; {
		m, end := rest[0], len(rest) // "~" takes the rest of the rule
		if m != '~' {
			end = 1 + upTo(rest[1:])
		}
		var val string
		val, rest = strings.TrimSpace(rest[1:end]), rest[end:]
		if seen[m] {
			return f, fmt.Errorf("%q given twice", string(m))
		}
		seen[m] = true
		switch m {
		case '=':
			f.Param = val
		case '@':
			p, err := strconv.ParseFloat(val, 64)
			if err != nil || !(p > 0 && p <= 1) {
				return f, fmt.Errorf("probability %q must be a number in (0, 1]", val)
			}
			f.Probability = p
		case '#':
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return f, fmt.Errorf("times %q must be a whole number >= 0 (0 = unlimited)", val)
			}
			f.Times = n
		case ':':
			if val == "" || strings.IndexFunc(val, func(r rune) bool { return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') }) >= 0 {
				return f, fmt.Errorf("method %q must be an HTTP method such as GET or DELETE", val)
			}
			f.Method = strings.ToUpper(val)
		case '~':
			if val == "" {
				return f, errors.New("empty path fragment after \"~\"")
			}
			f.PathContains = val
		}
	}
	return f, checkParam(f.Kind, f.Param)
}

// checkParam checks a rule's parameter; every kind may go without one.
func checkParam(kind, param string) error {
	if param == "" {
		return nil
	}
	switch kind {
	case faultLatency:
		if d, err := time.ParseDuration(param); err != nil || d < 0 {
			return fmt.Errorf("latency %q must be a duration such as 50ms or 2s", param)
		}
	case fault429:
		if n, err := strconv.Atoi(param); (err != nil || n < 0) && param != "date" && param != "none" {
			return fmt.Errorf("429 parameter %q must be seconds, \"date\" or \"none\"", param)
		}
	case faultTruncated:
		if param != "short" {
			return fmt.Errorf("truncated parameter %q must be empty or \"short\"", param)
		}
	case faultOversized:
		_, err := parseSize(param)
		return err
	default:
		return fmt.Errorf("kind %q takes no parameter", kind)
	}
	return nil
}

// parseSize reads a byte count with an optional binary suffix.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(s, suf.s) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suf.s)), suf.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q must be a positive byte count such as 1048576, 512KiB or 8MiB", v)
	}
	return n * mult, nil
}

// matches reports whether the rule applies to r and has times left.
func (fs *faultState) matches(r *http.Request) bool {
	return (fs.f.Method == "" || strings.EqualFold(fs.f.Method, r.Method)) && strings.Contains(r.URL.Path, fs.f.PathContains) &&
		(fs.f.Times <= 0 || fs.fired < fs.f.Times)
}

// applyFaults decides which faults fire for r. It sleeps for latency rules,
// answers (or drops) the request itself when a rule says so (deliver nil),
// or returns how to deliver the processed response.
func (s *Sandbox) applyFaults(w http.ResponseWriter, r *http.Request) (deliver func(response)) {
	var delay time.Duration
	var term *Fault
	s.faultMu.Lock()
	for i := range s.faults {
		fs := &s.faults[i]
		if !slices.Contains(faultKinds, fs.f.Kind) || !fs.matches(r) {
			continue
		}
		if p := fs.f.Probability; p > 0 && p < 1 && s.rng.Float64() >= p {
			continue
		}
		fs.fired++
		if fs.f.Kind == faultLatency {
			d, err := time.ParseDuration(fs.f.Param)
			if err != nil || d < 0 {
				d = defaultLatency
			}
			delay += d
			continue
		}
		term = &fs.f // a rule is never changed, only replaced (SetFaults)
		break
	}
	s.faultMu.Unlock()

	if delay > 0 && !sleep(r.Context(), delay) {
		abort(w)
		return nil
	}
	if term == nil {
		return func(res response) { writeResponse(w, res) }
	}
	switch term.Kind {
	case fault429:
		switch term.Param {
		case "none":
		case "date":
			at := time.Now().Add(3*time.Second - time.Nanosecond).Truncate(time.Second) // 2 s ahead, rounded up
			w.Header().Set("Retry-After", at.UTC().Format(http.TimeFormat))
		default:
			w.Header().Set("Retry-After", cmp.Or(term.Param, defaultRetryAfter))
		}
		writeResponse(w, errorResponse(http.StatusTooManyRequests, rateLimitMessage, rateLimitCode))
	case fault500, fault502, fault503, fault504:
		code, _ := strconv.Atoi(term.Kind)
		writeResponse(w, errorResponse(code, serverErrorMessage, serverErrorCode))
	case faultResetBefore:
		abort(w)
	case faultResetAfter:
		return func(response) { abort(w) }
	case faultTruncated:
		return func(res response) { writeTruncated(w, res, term.Param == "short") }
	case faultHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(htmlBody)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(htmlBody))
	case faultOversized:
		n, err := parseSize(term.Param)
		if err != nil { // none given (or a bad one, set without ParseFaults)
			n = defaultOversizeBytes
		}
		writeOversized(w, n)
	case faultHang:
		<-r.Context().Done()
		abort(w)
	}
	return nil
}

// writeTruncated writes the first half of a processed JSON body with its status; short also
// declares the full Content-Length.
func writeTruncated(w http.ResponseWriter, res response, short bool) {
	if len(res.body) < 2 {
		writeResponse(w, res)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if short {
		w.Header().Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	w.WriteHeader(res.status)
	// With short, the server closes the connection after this handler
	// returns, because fewer bytes than declared were written.
	_, _ = w.Write(res.body[:len(res.body)/2])
}

// abort drops the connection without (further) response. A TCP connection is
// closed with linger 0, so the peer sees a reset. When the writer cannot be
// hijacked (HTTP/2, a recorder) the handler is aborted with
// http.ErrAbortHandler instead.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeOversized streams a valid JSON document of exactly n bytes (at least
// the size of its fixed frame) without building it in memory.
func writeOversized(w http.ResponseWriter, n int64) {
	const head, tail = `{"data":{"padding":"`, `"}}`
	frame := int64(len(head) + len(tail))
	n = max(n, frame)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(head)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("x", 32<<10))
	for left := n - frame; left > 0; {
		c := chunk[:min(int64(len(chunk)), left)]
		if _, err := w.Write(c); err != nil {
			return
		}
		left -= int64(len(c))
	}
	_, _ = w.Write([]byte(tail))
}
