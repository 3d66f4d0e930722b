package tallyfy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// DefaultBaseURL is the API root given by Tallyfy's docs; https://api.tallyfy.com works too.
const DefaultBaseURL = "https://go.tallyfy.com/api"

// IDPattern is the format of every Tallyfy organization, task, run and template ID: the one
// definition (the tool schemas and the sandbox are checked against it by tests).
const IDPattern = `^[a-f0-9]{32}$`

var idPattern = regexp.MustCompile(IDPattern)

// ValidID reports whether s is a well-formed Tallyfy ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Config configures a Client. Zero values take the defaults noted on each field.
type Config struct {
	BaseURL string // default DefaultBaseURL; http only for loopback hosts
	Token   string // personal access token or OAuth bearer token
	OrgID   string
	// UserAgent is sent as User-Agent; default "tallyfy-mcp".
	UserAgent string
	// HTTPClient is shared by every call; default a keep-alive client built by NewHTTPClient.
	HTTPClient *http.Client
	// RequestTimeout bounds one HTTP attempt; default 30s.
	RequestTimeout time.Duration
	// MaxBodyBytes caps how much of a response body is read; default 4 MiB.
	MaxBodyBytes int64
	// MaxTries is the number of attempts for a retryable call, first one included; default 4.
	// 1 disables retries.
	MaxTries int
	// RetryBaseDelay is the first backoff step (jittered, growing ×2); default 250ms.
	RetryBaseDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits out itself; longer ones are
	// returned to the caller. Default 30s.
	MaxRetryAfter time.Duration
	// Rate is how many requests a second the client sends at most, retries included (a token
	// bucket, pacing.go). 0 means no pacing: the server passes --tallyfy-rate (default
	// DefaultRate), and tests against an unlimited sandbox need none.
	Rate float64
	// RateBurst is how many requests may leave at once after a quiet spell; default
	// DefaultRateBurst (pacing.go says why).
	RateBurst int
	// ArchivedSearchPages bounds how many pages of 100 archived items a look-up reads when
	// Tallyfy's GET does not settle an item; default DefaultArchivedSearchPages (the newest
	// 1000). ArchivedSearchTimeout bounds its time; default DefaultArchivedSearchTimeout.
	ArchivedSearchPages   int
	ArchivedSearchTimeout time.Duration
	// SharedPace, when set, keeps the token bucket (Rate, RateBurst) where every replica using
	// the same token shares it (state.Redis with --state redis://). Nil: this process's own.
	SharedPace SharedPacer
	// BulkInterval is the least time between two requests of bulk work (WithBulkPace);
	// 0 means none. The server passes --tallyfy-bulk-interval (default DefaultBulkInterval).
	BulkInterval time.Duration
	// OnRetry, if set, is told about each retry (for logs).
	OnRetry func(method, path string, attempt int, err error, wait time.Duration)
	// Logger receives warnings about fields that arrived in an undocumented shape (see
	// ShapeIssue). Nil discards them rather than using slog's default: a library must not
	// write where its embedder did not ask (in stdio mode stdout carries only JSON-RPC, and
	// slog's default may be pointed anywhere), and callers that want the issues either pass
	// a logger or use WithShapeReporter.
	Logger *slog.Logger
}

// Client calls the Tallyfy REST API for one organization.
type Client struct {
	cfg  Config
	base *url.URL
	pace *pacer // this credential's request budget (pacing.go)
}

// NewHTTPClient returns the keep-alive client used when Config.HTTPClient is nil.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for many concurrent calls: fewer make connections churn
	// (thousands of sockets in TIME-WAIT under load) and halve throughput.
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 512
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 0 // bounded per attempt by RequestTimeout instead
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
		// A redirect could carry the bearer token to another host: never follow one.
		return http.ErrUseLastResponse
	}}
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	orDefault(&cfg.BaseURL, DefaultBaseURL)
	base, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("tallyfy: an access token is required")
	}
	if !ValidID(cfg.OrgID) {
		// Never echo it: a token put in its place (the two swapped) would be printed.
		return nil, fmt.Errorf("tallyfy: the organization id is not 32 lowercase hex characters (it has %d characters and is not shown, as it may be a token given in its place); copy it from Tallyfy: Settings > Organization", len(cfg.OrgID))
	}
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0 {
		return nil, fmt.Errorf("tallyfy: rate %v is not a number of requests per second ≥ 0", cfg.Rate)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	orDefault(&cfg.UserAgent, "tallyfy-mcp")
	orDefault(&cfg.RequestTimeout, 30*time.Second)
	orDefault(&cfg.MaxBodyBytes, 4<<20)
	orDefault(&cfg.MaxTries, 4)
	orDefault(&cfg.RetryBaseDelay, 250*time.Millisecond)
	orDefault(&cfg.MaxRetryAfter, 30*time.Second)
	orDefault(&cfg.RateBurst, DefaultRateBurst)
	orDefault(&cfg.ArchivedSearchPages, DefaultArchivedSearchPages)
	orDefault(&cfg.ArchivedSearchTimeout, DefaultArchivedSearchTimeout)
	return &Client{cfg: cfg, base: base, pace: newPacer(cfg)}, nil
}

// orDefault sets *v to d when it is zero or below: a Config field left out.
func orDefault[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v <= zero {
		*v = d
	}
}

// OrgID is the organization this client acts on.
func (c *Client) OrgID() string { return c.cfg.OrgID }

// BaseURL is the API root in use.
func (c *Client) BaseURL() string { return c.base.String() }

// ParseBaseURL accepts https URLs, and http only for loopback hosts (the sandbox, local tests).
// Errors show only scheme, host and path: a token pasted into the URL must not be echoed.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" {
		// Without a host nothing is known of what it holds (a token pasted in its place?).
		shown := "(not shown: it may hold credentials)"
		return nil, fmt.Errorf("tallyfy: base URL %q is not an absolute URL such as %s", shown, DefaultBaseURL)
	}
	shown := ShownBaseURL(raw)
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("tallyfy: base URL %q must not carry credentials, a query or a fragment", shown)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("tallyfy: base URL %q uses plain http; use https (http is allowed only for loopback addresses)", shown)
		}
	default:
		return nil, fmt.Errorf("tallyfy: base URL %q must use https", shown)
	}
	return u, nil
}

// ShownBaseURL is raw as it may be printed: scheme://host/path, without userinfo, query or
// fragment, or a placeholder when it does not parse (it may hold credentials).
func ShownBaseURL(raw string) string {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" {
		return "(not shown: not a URL, and it may hold credentials)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// IsLoopbackHost reports whether host is localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// retryClass says which failures a call may retry.
type retryClass int

const (
	// retrySafe: reads and idempotent writes: 429, 502/503/504 and transport errors.
	retrySafe retryClass = iota
	// retryUnsent: permanent deletes: only failures where the request provably never reached
	// Tallyfy (429, connection refused). Anything else is ambiguous and left to the caller.
	retryUnsent
)

// path builds /organizations/{org}/{collection}[/{id}][/suffix] with every segment escaped.
func (c *Client) path(collection, id, suffix string) string {
	p := "/organizations/" + url.PathEscape(c.cfg.OrgID) + "/" + collection
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	if suffix != "" {
		p += "/" + suffix
	}
	return p
}

// response is a successful answer: status, headers and the (capped) body.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one logical call with retries by class and returns a 2xx response or an error.
// Between attempts it waits what the server asked (Retry-After), else a jittered step growing
// ×2 from RetryBaseDelay; a server's wait starts the steps again.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, class retryClass) (*response, error) {
	steps := &backoff.ExponentialBackOff{InitialInterval: c.cfg.RetryBaseDelay, Multiplier: 2, RandomizationFactor: 0.3, MaxInterval: 8 * c.cfg.RetryBaseDelay}
	var last error // the last failure that was not the caller's context ending
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, method, path, query)
		if err == nil {
			return resp, nil
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		if wait, retry := c.shouldRetry(ctx, err, class); retry && attempt < c.cfg.MaxTries {
			if c.cfg.OnRetry != nil {
				c.cfg.OnRetry(method, path, attempt, err, wait)
			}
			next := steps.NextBackOff()
			if wait > 0 {
				next = wait
				steps.Reset()
			}
			if sleep(ctx, next) == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			// The caller's context ended: report the last answer from Tallyfy too (status,
			// request id), while errors.Is(err, ctx.Err()) holds.
			if last == nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w (no more retries: %w)", last, ctx.Err())
		}
		return nil, err
	}
}

// sleep waits d, or until ctx ends (its error then).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// shouldRetry decides whether err may be retried under class, and how long the server asked
// to wait. It never lets a wait run past the caller's deadline.
func (c *Client) shouldRetry(ctx context.Context, err error, class retryClass) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	var wait time.Duration
	ae, isAPI := errors.AsType[*APIError](err)
	switch {
	case isAPI:
		gateway := ae.Status == http.StatusBadGateway || ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusGatewayTimeout
		if ae.Status != http.StatusTooManyRequests && (!gateway || class != retrySafe) {
			return 0, false
		}
		wait = ae.RetryAfter
		if wait > c.cfg.MaxRetryAfter {
			return 0, false // tell the caller to come back later instead of blocking
		}
	case isConnRefused(err):
		// Nothing was sent: safe for every class.
	case class == retrySafe && errors.As(err, new(*TransportError)):
	default:
		return 0, false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+c.cfg.RetryBaseDelay {
		return 0, false
	}
	return wait, true
}

func isConnRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial"
}

// TransportError wraps a failure to get any HTTP answer (reset, timeout, refused).
type TransportError struct {
	Method, Path string
	Err          error
	// Sent is false when the request provably never left (connection refused / dial failure).
	Sent bool
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("tallyfy: %s %s: no answer from Tallyfy: %v", e.Method, e.Path, e.Err)
}
func (e *TransportError) Unwrap() error { return e.Err }

// send builds one request to fullPath (below the host) with the client's headers, body as
// JSON when it is not nil, and sends it. A transport failure comes back unwrapped from its
// url.Error, which repeats the URL (the token is never in it: header only).
func (c *Client) send(ctx context.Context, method, fullPath string, query url.Values, body []byte) (*http.Response, error) {
	u := *c.base
	u.Path = fullPath
	u.RawPath = ""
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("tallyfy: building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, err
	}
	return resp, nil
}

// once sends a single HTTP attempt, when the credential's pacer lets it leave.
func (c *Client) once(ctx context.Context, method, path string, query url.Values) (*response, error) {
	// Before the attempt's own timeout starts: waiting for a slot is not Tallyfy being slow.
	if err := c.pace.wait(ctx, method, path, c.cfg.MaxRetryAfter); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.send(actx, method, c.base.Path+path, query, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no response within %s (--request-timeout)", c.cfg.RequestTimeout)
		}
		return nil, &TransportError{Method: method, Path: path, Err: err, Sent: !isConnRefused(err)}
	}
	defer resp.Body.Close()
	rl := RateLimitOf(resp.Header)
	observeRateLimit(ctx, rl)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		ae := parseAPIError(resp.StatusCode, resp.Header, body, method, path)
		c.pace.observe(resp.StatusCode, rl, ae.RetryAfter, c.cfg.MaxRetryAfter, time.Now())
		return nil, ae
	}
	c.pace.observe(resp.StatusCode, rl, 0, c.cfg.MaxRetryAfter, time.Now())
	r := &response{Status: resp.StatusCode, Header: resp.Header}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.unusable(method, path, "the body was cut off: "+err.Error())
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		re := r.unusable(method, path, fmt.Sprintf("larger than %d bytes", c.cfg.MaxBodyBytes))
		re.TooLarge = true
		return nil, re
	}
	r.Body = body
	// A 2xx whose body is not JSON (a proxy's HTML page, a cut-off answer) proves nothing, even
	// for endpoints whose body is ignored (204-style deletes): never take it for success.
	if t := bytes.TrimSpace(body); len(t) > 0 && !json.Valid(t) {
		return nil, r.unusable(method, path, describeJSONError(r, json.Unmarshal(t, new(any))))
	}
	return r, nil
}

func (r *response) unusable(method, path, reason string) *ResponseError {
	return &ResponseError{Status: r.Status, RequestID: r.Header.Get("X-Request-Id"), ContentType: r.Header.Get("Content-Type"),
		Reason: reason, Method: method, Path: path}
}

func describeJSONError(r *response, err error) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case len(r.Body) == 0:
		return "empty body"
	case ct != "" && !strings.Contains(ct, "json"):
		return "not JSON (Content-Type " + Truncate(ct, 60) + ")"
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON"):
		return "truncated JSON"
	case errors.As(err, new(*json.UnmarshalTypeError)):
		return "unexpected JSON shape: " + Truncate(err.Error(), 200)
	default:
		return "not valid JSON"
	}
}

// notAnObject says so when an item arrived as another JSON type (it then has no identity).
func notAnObject(err error) (string, bool) {
	if ute, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && ute.Type != nil && ute.Type.Kind() == reflect.Struct {
		return (&identityError{Found: ute.Value}).Error(), true
	}
	return "", false
}
