package tallyfy

import (
	"bytes"
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
	"strconv"
	"strings"
	"sync"
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
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
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
	if cfg.UserAgent == "" {
		cfg.UserAgent = "tallyfy-mcp"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = 4
	}
	if cfg.RetryBaseDelay <= 0 {
		cfg.RetryBaseDelay = 250 * time.Millisecond
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 30 * time.Second
	}
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0 {
		return nil, fmt.Errorf("tallyfy: rate %v is not a number of requests per second ≥ 0", cfg.Rate)
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.ArchivedSearchPages <= 0 {
		cfg.ArchivedSearchPages = DefaultArchivedSearchPages
	}
	if cfg.ArchivedSearchTimeout <= 0 {
		cfg.ArchivedSearchTimeout = DefaultArchivedSearchTimeout
	}
	return &Client{cfg: cfg, base: base, pace: newPacer(cfg)}, nil
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
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("tallyfy: base URL %q must not carry credentials, a query or a fragment", safeURL(u))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("tallyfy: base URL %q uses plain http; use https (http is allowed only for loopback addresses)", safeURL(u))
		}
	default:
		return nil, fmt.Errorf("tallyfy: base URL %q must use https", safeURL(u))
	}
	return u, nil
}

// safeURL is scheme://host/path, without userinfo, query or fragment.
func safeURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// ShownBaseURL is raw as it may be printed: scheme://host/path, without userinfo, query or
// fragment, or a placeholder when it does not parse (it may hold credentials).
func ShownBaseURL(raw string) string {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || u.Host == "" {
		return "(not shown: not a URL, and it may hold credentials)"
	}
	return safeURL(u)
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
func (c *Client) do(ctx context.Context, method, path string, query url.Values, class retryClass) (*response, error) {
	attempt := 0
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.RetryBaseDelay
	b.Multiplier = 2
	b.RandomizationFactor = 0.3
	b.MaxInterval = 8 * c.cfg.RetryBaseDelay
	var last error // the last failure that was not the caller's context ending
	op := func() (*response, error) {
		attempt++
		resp, err := c.once(ctx, method, path, query)
		if err == nil {
			return resp, nil
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		wait, retry := c.shouldRetry(ctx, err, class)
		if !retry || attempt >= c.cfg.MaxTries {
			return nil, backoff.Permanent(err)
		}
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(method, path, attempt, err, wait)
		}
		if wait > 0 {
			return nil, &retryAfter{err: err, wait: wait}
		}
		return nil, err
	}
	resp, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxTries(uint(c.cfg.MaxTries)), backoff.WithMaxElapsedTime(0))
	var ra *retryAfter
	if errors.As(err, &ra) {
		err = ra.err
	}
	if err != nil && ctx.Err() != nil {
		// The caller's context ended (backoff then returns its cause, losing the failure
		// that led to the retry): report both, so errors.Is(err, ctx.Err()) holds and the
		// last answer from Tallyfy (status, request id) is kept.
		if last == nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w (no more retries: %w)", last, ctx.Err())
	}
	return resp, err
}

// retryAfter carries a server-chosen wait to backoff.Retry without losing the error.
type retryAfter struct {
	err  error
	wait time.Duration
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// As lets backoff.Retry see a *backoff.RetryAfterError with our wait.
func (r *retryAfter) As(target any) bool {
	if t, ok := target.(**backoff.RetryAfterError); ok {
		*t = &backoff.RetryAfterError{Duration: r.wait}
		return true
	}
	return false
}

// shouldRetry decides whether err may be retried under class, and how long the server asked
// to wait. It never lets a wait run past the caller's deadline.
func (c *Client) shouldRetry(ctx context.Context, err error, class retryClass) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	var wait time.Duration
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusTooManyRequests:
			wait = ae.RetryAfter
			if wait > c.cfg.MaxRetryAfter {
				return 0, false // tell the caller to come back later instead of blocking
			}
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if class != retrySafe {
				return 0, false
			}
			wait = ae.RetryAfter
			if wait > c.cfg.MaxRetryAfter {
				return 0, false
			}
		default:
			return 0, false
		}
	case isConnRefused(err):
		// Nothing was sent: safe for every class.
	case class == retrySafe && isTransportError(err):
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
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
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

func isTransportError(err error) bool {
	var te *TransportError
	return errors.As(err, &te)
}

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
		var ue *url.Error
		if errors.As(err, &ue) {
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ResponseError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
			ContentType: resp.Header.Get("Content-Type"), Reason: "the body was cut off: " + err.Error(), Method: method, Path: path}
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		return nil, &ResponseError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
			ContentType: resp.Header.Get("Content-Type"), Reason: fmt.Sprintf("larger than %d bytes", c.cfg.MaxBodyBytes), Method: method, Path: path, TooLarge: true}
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	// A 2xx whose body is not JSON (a proxy's HTML page, a cut-off answer) proves nothing, even
	// for endpoints whose body is ignored (204-style deletes): never take it for success.
	if t := trimSpace(body); len(t) > 0 && !json.Valid(t) {
		var probe any
		return nil, r.unusable(method, path, describeJSONError(r, json.Unmarshal(t, &probe)))
	}
	return r, nil
}

// decodeData decodes {"data": …} into v (a pointer) in one pass: the envelope's field holds v
// itself, so the item is not copied out and parsed a second time (this is on every call).
func decodeData(method, path string, r *response, v any) error {
	if !bytes.Contains(r.Body, []byte(`"data"`)) {
		if !json.Valid(r.Body) {
			var probe any
			return r.unusable(method, path, describeJSONError(r, json.Unmarshal(r.Body, &probe)))
		}
		return r.unusable(method, path, "no data envelope")
	}
	env := struct {
		Data any `json:"data"`
	}{Data: v}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		if reason, ok := notAnObject(err); ok {
			return r.unusable(method, path, reason)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return r.unusable(method, path, describeJSONError(r, err))
		}
		return r.unusable(method, path, "unexpected data: "+truncate(err.Error(), 200))
	}
	if env.Data == nil { // "data": null
		return r.unusable(method, path, "no data envelope")
	}
	return nil
}

func (r *response) unusable(method, path, reason string) error {
	return &ResponseError{Status: r.Status, RequestID: r.Header.Get("X-Request-Id"), ContentType: r.Header.Get("Content-Type"),
		Reason: reason, Method: method, Path: path}
}

func describeJSONError(r *response, err error) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case len(r.Body) == 0:
		return "empty body"
	case ct != "" && !strings.Contains(ct, "json"):
		return "not JSON (Content-Type " + truncate(ct, 60) + ")"
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON"):
		return "truncated JSON"
	case errors.As(err, new(*json.UnmarshalTypeError)):
		return "unexpected JSON shape: " + truncate(err.Error(), 200)
	default:
		return "not valid JSON"
	}
}

// notAnObject says so when an item arrived as another JSON type (it then has no identity).
func notAnObject(err error) (string, bool) {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Type != nil && ute.Type.Kind() == reflect.Struct {
		return (&identityError{Found: ute.Value}).Error(), true
	}
	return "", false
}

// getOne fetches one item (W is its wire form, decode.go).
func getOne[T, W any, PW wire[T, W]](ctx context.Context, c *Client, kind Kind, collection, id string) (*T, error) {
	if !ValidID(id) {
		return nil, &InvalidIDError{Kind: kind, ID: id}
	}
	p := c.path(collection, id, "")
	r, err := c.do(ctx, http.MethodGet, p, nil, retrySafe)
	if err != nil {
		return nil, err
	}
	return decodeItem[T, W, PW](ctx, c, kind, http.MethodGet, p, r)
}

// decodeItem decodes {"data": item} and reports the item's shape issues.
func decodeItem[T, W any, PW wire[T, W]](ctx context.Context, c *Client, kind Kind, method, path string, r *response) (*T, error) {
	var w W
	if err := decodeData(method, path, r, &w); err != nil {
		return nil, err
	}
	v, err := PW(&w).decode()
	if err != nil {
		return nil, r.unusable(method, path, err.Error())
	}
	c.reportItem(ctx, kind, &v)
	return &v, nil
}

// reportItem reports the shape issues of one decoded item, named after its kind.
func (c *Client) reportItem(ctx context.Context, kind Kind, v any) {
	if it, ok := v.(Item); ok {
		c.reportShapes(ctx, prefixed(string(kind)+".", it.shapeIssues()))
	}
}

// list fetches one page of a collection into a Page (W is the items' wire form, decode.go).
func list[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection string, opts ListOptions, extra url.Values) (*Page[T], error) {
	q := url.Values{}
	for k, v := range extra {
		q[k] = v
	}
	if s := strings.TrimSpace(opts.Query); s != "" {
		q.Set("q", s)
	}
	if opts.Status != "" {
		q.Set("status", opts.Status)
	}
	if opts.Sort != "" {
		q.Set("sort", opts.Sort)
	}
	if opts.ChecklistID != "" {
		if !ValidID(opts.ChecklistID) {
			return nil, &InvalidIDError{Kind: KindTemplate, ID: opts.ChecklistID}
		}
		q.Set("checklist_id", opts.ChecklistID)
	}
	switch opts.Archived {
	case "", ArchivedExclude:
	case ArchivedInclude:
		q.Set("archived", "true")
	case ArchivedOnly:
		q.Set("archived", "only")
	default:
		return nil, fmt.Errorf("tallyfy: archived must be exclude, include or only, not %q", opts.Archived)
	}
	page := max(opts.Page, 1)
	perPage := min(opts.PerPage, maxPerPage)
	p, err := listPage[T, W, PW](ctx, c, collection, q, page, perPage, opts.Page > 0)
	if err != nil {
		return nil, err
	}
	// What the listing itself says about each item's archived state, where the item does not
	// say it itself: an item's own archived_at (or a run's status) always wins, since a list
	// may ignore its archived parameter (docs/tallyfy-api.md §2.4: the docs document
	// status=archived for runs, Tallyfy's MCP archived=only). Template and task list items may
	// carry no archived_at (§7), so an archived=only listing is the only word on them. An
	// exclude listing holds live items only. An include listing cannot tell: items it returns
	// without archived_at stay unknown, and the lifecycle and delete paths never decide from a
	// listing but from Lookup.
	oneOffListing := q.Get("is_oneoff") == "true"
	var issues []ShapeIssue
	for i := range p.Items {
		if t, ok := any(&p.Items[i]).(*Task); ok && oneOffListing {
			t.listedOneOff = true // Task.OneOff
		}
		it, ok := any(&p.Items[i]).(Item)
		if !ok {
			continue
		}
		if !it.archivedState().known() {
			switch opts.Archived {
			case ArchivedOnly:
				it.setArchived(archivedYes)
			case "", ArchivedExclude:
				it.setArchived(archivedNo)
			}
		}
		issues = append(issues, it.shapeIssues()...)
	}
	c.reportShapes(ctx, prefixed(collectionItem(collection)+"[].", issues))
	return p, nil
}

// maxPerPage is the largest page Tallyfy serves (docs/tallyfy-api.md §4), and minSplitPerPage
// the smallest a page over the body cap is split down to before the call fails.
const (
	maxPerPage      = 100
	minSplitPerPage = 25
)

// listPage GETs page `page` of perPage items (0: Tallyfy's default). An answer over the body
// cap (Config.MaxBodyBytes) is asked again as the two pages of half the size that cover the
// same items, down to minSplitPerPage, so that a page of large items does not fail the call;
// the result is still the page asked for.
// page is sent when sendPage or above 1 (an absent page is the first).
func listPage[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection string, q url.Values, page, perPage int, sendPage bool) (*Page[T], error) {
	p := c.path(collection, "", "")
	pq := url.Values{}
	for k, v := range q {
		pq[k] = v
	}
	if sendPage || page > 1 {
		pq.Set("page", strconv.Itoa(page))
	}
	if perPage > 0 {
		pq.Set("per_page", strconv.Itoa(perPage))
	}
	r, memoized, err := c.getListing(ctx, p, pq)
	var re *ResponseError
	if errors.As(err, &re) && re.TooLarge && perPage >= 2*minSplitPerPage && perPage%2 == 0 {
		half := perPage / 2
		first, ferr := listPage[T, W, PW](ctx, c, collection, q, 2*page-1, half, sendPage)
		if ferr != nil {
			return nil, ferr
		}
		out := &Page[T]{Items: first.Items, Pagination: first.Pagination, PageSize: perPage, Offset: (page - 1) * perPage}
		if first.HasMore() && len(first.Items) == half {
			second, serr := listPage[T, W, PW](ctx, c, collection, q, 2*page, half, true)
			if serr != nil {
				return nil, serr
			}
			out.Items = append(out.Items, second.Items...)
			out.Pagination.Total = second.Pagination.Total
		}
		out.Pagination.CurrentPage, out.Pagination.PerPage, out.Pagination.Count = page, perPage, len(out.Items)
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	raw, said, err := decodeList[W](r, p)
	if err != nil {
		return nil, err
	}
	out := &Page[T]{Items: make([]T, len(raw))}
	for i := range raw {
		v, err := PW(&raw[i]).decode()
		if err != nil {
			return nil, r.unusable(http.MethodGet, p, err.Error())
		}
		out.Items[i] = v
	}
	out.Pagination = pagination(said, len(out.Items))
	out.PageSize, out.Offset = pageGeometry(said, page, perPage, len(out.Items))
	out.memoized = memoized
	return out, nil
}

// Listing memo. A bulk plan looks up to 100 IDs, and each that Tallyfy's GET does not settle
// (every archived template, and archived tasks) searches the same archived listing: with a
// memo in the context (WithListingMemo) each page of an archived listing is asked once per plan
// and shared by every look-up, concurrent ones included, instead of once per item. Only
// archived=only pages are kept, and only for the context's life: the plan's execution reads
// every item again without it.

type listingMemoKey struct{}

type listingMemo struct {
	mu    sync.Mutex
	pages map[string]*memoPage
}

type memoPage struct {
	done chan struct{}
	r    *response
	err  error
}

// WithListingMemo returns a context in which archived listing pages are asked of Tallyfy once.
func WithListingMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, listingMemoKey{}, &listingMemo{pages: map[string]*memoPage{}})
}

// getListing GETs one list page, through the context's memo for archived=only pages. memoized
// is true when another look-up sent the request.
func (c *Client) getListing(ctx context.Context, p string, q url.Values) (r *response, memoized bool, err error) {
	m, _ := ctx.Value(listingMemoKey{}).(*listingMemo)
	if m == nil || q.Get("archived") != "only" {
		r, err = c.do(ctx, http.MethodGet, p, q, retrySafe)
		return r, false, err
	}
	key := p + "?" + q.Encode()
	m.mu.Lock()
	e, seen := m.pages[key]
	if !seen {
		e = &memoPage{done: make(chan struct{})}
		m.pages[key] = e
	}
	m.mu.Unlock()
	if seen {
		select {
		case <-e.done:
			return e.r, true, e.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	e.r, e.err = c.do(ctx, http.MethodGet, p, q, retrySafe)
	if e.err != nil { // a failure is not kept: the next look-up asks again
		m.mu.Lock()
		delete(m.pages, key)
		m.mu.Unlock()
	}
	close(e.done)
	return e.r, false, e.err
}

// pageGeometry is the page size a page was cut with and the number of items before it: the
// size asked for (Tallyfy's default 10 when none was), unless the answer says it used a smaller
// one (some lists use a fixed page size: Tallyfy's MCP server, server/utils/pagination.py). An
// answer without pagination is one page holding everything.
func pageGeometry(said *Pagination, page, perPage, n int) (size, offset int) {
	if said == nil {
		return max(n, 1), 0
	}
	size = perPage
	if size <= 0 {
		size = defaultPerPage
	}
	if said.PerPage > 0 && said.PerPage < size {
		size = said.PerPage
	}
	return size, (max(page, 1) - 1) * size
}

// defaultPerPage is the page size of Tallyfy's lists when none is asked for (docs/tallyfy-api.md §4).
const defaultPerPage = 10

// decodeList reads a list answer, {"data": [...], "meta": {"pagination": {...}}}, into its raw
// items and the pagination it carries (nil when it carries none).
func decodeList[W any](r *response, p string) ([]W, *Pagination, error) {
	var env struct {
		Data *[]W `json:"data"`
		Meta struct {
			Pagination *Pagination `json:"pagination"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		if reason, ok := notAnObject(err); ok {
			return nil, nil, r.unusable(http.MethodGet, p, reason)
		}
		return nil, nil, r.unusable(http.MethodGet, p, describeJSONError(r, err))
	}
	if env.Data == nil {
		// Not a list at all (e.g. {"message": …} or null): never read it as an empty one.
		return nil, nil, r.unusable(http.MethodGet, p, "no data envelope")
	}
	return *env.Data, env.Meta.Pagination, nil
}

// pagination is the pagination a list answer carried, else that of one page holding all n items.
func pagination(said *Pagination, n int) Pagination {
	if said != nil {
		return *said
	}
	return Pagination{Total: n, Count: n, PerPage: n, CurrentPage: 1, TotalPages: 1}
}

// mutate sends a lifecycle request (DELETE or PUT) and returns the raw response.
func (c *Client) mutate(ctx context.Context, kind Kind, method, collection, id, suffix string, class retryClass) (*response, string, error) {
	if !ValidID(id) {
		return nil, "", &InvalidIDError{Kind: kind, ID: id}
	}
	p := c.path(collection, id, suffix)
	r, err := c.do(ctx, method, p, nil, class)
	return r, p, err
}

// mutateItem sends a lifecycle request whose answer may be the item ({"data": …}), retried
// when safe (retrySafe); an empty 2xx body gives nil.
func mutateItem[T, W any, PW wire[T, W]](ctx context.Context, c *Client, kind Kind, method, collection, id, suffix string) (*T, error) {
	r, p, err := c.mutate(ctx, kind, method, collection, id, suffix, retrySafe)
	if err != nil || len(trimSpace(r.Body)) == 0 {
		return nil, err
	}
	return decodeItem[T, W, PW](ctx, c, kind, method, p, r)
}

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

var archivedScopes = map[string]archivedScope{
	// is_oneoff=true: only one-off tasks (the only tasks the tools act on); status=all: the
	// default status filter may hide completed tasks (TaskStatusAll). sort=newest is a
	// documented value of list-org-tasks.
	tasksPath: {extra: url.Values{"is_oneoff": {"true"}, "status": {TaskStatusAll}}, sort: "newest", order: "newest", noun: "archived one-off tasks"},
	// -created_at: documented by list-processes, and the default of Tallyfy's MCP server.
	// status=archived is the docs' own way to list archived runs (list-processes).
	runsPath: {sort: "-created_at", fallback: url.Values{"status": {"archived"}}, order: "most recently started", noun: "archived processes"},
	// list-templates sorts by sort_by, default "updated" (most recently updated first).
	templatesPath: {order: "most recently updated", noun: "archived templates"},
}

// The default bounds of an archived search (Config.ArchivedSearchPages, ArchivedSearchTimeout).
const (
	DefaultArchivedSearchPages   = 10
	DefaultArchivedSearchTimeout = 20 * time.Second
	archivedSearchPerPage        = maxPerPage
)

// archivedSearch is what one search of an archived listing read.
type archivedSearch struct {
	requests int
	seen     int  // archived items read
	total    int  // archived items the listing counts (0: not said)
	complete bool // the listing was read to its end
	timedOut bool
	// unfiltered: the listing returned live items too, so it cannot show an absence
	unfiltered bool
	elapsed    time.Duration
}

// findArchived looks for id among a collection's archived items, newest first, within the
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
func findArchived[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection, id string) (*T, archivedSearch, error) {
	found, s, err := findArchivedAmong[T, W, PW](ctx, c, collection, []string{id})
	return found[id], s, err
}

// findArchivedAmong is findArchived for several IDs at once, within the same bounds: it stops
// when every one was found, and returns those found.
func findArchivedAmong[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection string, ids []string) (map[string]*T, archivedSearch, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := make(map[string]*T, len(ids))
	scope := archivedScopes[collection]
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, c.cfg.ArchivedSearchTimeout)
	defer cancel()
	var s archivedSearch
	opts := ListOptions{Archived: ArchivedOnly, PerPage: archivedSearchPerPage, Sort: scope.sort}
	extra := scope.extra
	triedFallback := false
	for page, read := 1, 0; read < c.cfg.ArchivedSearchPages; page, read = page+1, read+1 {
		opts.Page = page
		p, err := list[T, W, PW](sctx, c, collection, opts, extra)
		if err != nil || !p.memoized {
			s.requests++
		}
		if rejectsStatusAll(err) && extra.Get("status") == TaskStatusAll && read+1 < c.cfg.ArchivedSearchPages {
			// status=all refused (tasks.go ListTasks): this page again without it.
			extra = withoutKey(extra, "status")
			p, err = list[T, W, PW](sctx, c, collection, opts, extra)
			s.requests++
			read++
		}
		if err != nil {
			s.elapsed = time.Since(start)
			if ctx.Err() == nil && sctx.Err() != nil {
				// Our own time bound, not the caller's: what was read so far is the answer.
				s.timedOut = true
				return found, s, nil
			}
			return found, s, err
		}
		s.total = p.Pagination.Total
		s.seen += len(p.Items)
		leaks := false
		for i := range p.Items {
			it := any(&p.Items[i]).(Item)
			if id := it.id(); want[id] && found[id] == nil {
				found[id] = &p.Items[i]
				if len(found) == len(want) {
					s.elapsed = time.Since(start)
					return found, s, nil
				}
			}
			if it.archivedState() == archivedNo {
				leaks = true // the item's own word: the listing did not filter
			}
		}
		if leaks && !triedFallback && scope.fallback != nil {
			// Read the archived ones with the other documented filter too, from its first page.
			triedFallback, s.unfiltered = true, false
			extra = scope.fallback
			page, s.seen, s.total = 0, 0, 0
			continue
		}
		s.unfiltered = s.unfiltered || leaks
		// An empty page ends the list; a short one does not (fixed page sizes), and the total
		// says whether more remain (Page.Ends).
		if p.Ends(s.seen) {
			s.complete = !s.unfiltered
			break
		}
	}
	s.elapsed = time.Since(start)
	return found, s, nil
}

// settleListed settles the archived state of listed items that did not say it (an
// archived=include listing of tasks or templates: docs/tallyfy-api.md §7) from the archived
// listing, within the archived search's bounds: found there, archived; absent from a listing
// read to its end, live; otherwise still unknown. It returns how many stay unknown and what
// was searched, for the result to say so.
func settleListed[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection string, items []Item) (ArchivedNote, error) {
	var ids []string
	for _, it := range items {
		if !it.archivedState().known() {
			ids = append(ids, it.id())
		}
	}
	if len(ids) == 0 {
		return ArchivedNote{}, nil
	}
	found, s, err := findArchivedAmong[T, W, PW](ctx, c, collection, ids)
	if err != nil && ctx.Err() != nil {
		return ArchivedNote{}, err
	}
	scope := archivedScopes[collection]
	note := ArchivedNote{Scope: scope.noun, Order: scope.order, Searched: s.seen, Total: s.total, Requests: s.requests}
	for _, it := range items {
		if it.archivedState().known() {
			continue
		}
		f := found[it.id()]
		var own archivedState
		if f != nil {
			own = any(f).(Item).archivedState()
		}
		switch {
		case own.known(): // the item's own word in the archived listing wins
			it.setArchived(own)
		case f != nil && !s.unfiltered:
			it.setArchived(archivedYes)
		case f == nil && err == nil && s.complete:
			it.setArchived(archivedNo)
		default:
			note.Unknown++
		}
	}
	return note, nil
}

// ArchivedNote says how a listing's archived states were settled: how many stay unknown
// after a bounded search of the archived listing, and how far that search went.
type ArchivedNote struct {
	Unknown  int
	Scope    string // "archived templates"
	Order    string // "most recently updated"
	Searched int
	Total    int
	Requests int
}

// withoutKey is a copy of v without key.
func withoutKey(v url.Values, key string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if k != key {
			out[k] = vs
		}
	}
	return out
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
	Exists   bool
	Scope    string // what was searched: "archived one-off tasks"
	Order    string // in which order: "newest"
	Searched int    // archived items read
	Total    int    // archived items Tallyfy counts there (0: not said)
	Requests int    // requests this look-up sent, its GET included
	TimedOut bool   // the time bound ended the search
	// Unfiltered: the archived listing also returned live items (it ignored archived), so it
	// could not show that the item is absent.
	Unfiltered bool
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
		return fmt.Sprintf("tallyfy: Tallyfy did not say whether %s %s is archived, and it is %s", e.Kind, truncate(e.ID, 80), e.Summary())
	}
	return fmt.Sprintf("tallyfy: %s %s not found: Tallyfy answered 404 to reading it, and it is %s", e.Kind, truncate(e.ID, 80), e.Summary())
}

// prefixed puts prefix before each issue's path.
func prefixed(prefix string, issues []ShapeIssue) []ShapeIssue {
	out := make([]ShapeIssue, len(issues))
	for i, is := range issues {
		out[i] = ShapeIssue{Path: prefix + is.Path, Found: is.Found}
	}
	return out
}

// collectionItem names a collection's items in shape-issue paths: tasks, runs, templates.
func collectionItem(collection string) string {
	if collection == templatesPath {
		return "templates"
	}
	return collection
}

// trimSpace trims without copying: it runs on every response body.
func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }

// find GETs one item and, on 404, looks for it among the archived ones (findArchived: bounded).
func find[T, W any, PW wire[T, W]](ctx context.Context, c *Client, kind Kind, get func(context.Context, string) (*T, error), collection, id string) (*T, error) {
	scope := archivedScopes[collection]
	bounded := func(s archivedSearch, exists bool) error {
		return &ArchivedSearchError{Kind: kind, ID: id, Exists: exists, Scope: scope.noun, Order: scope.order,
			Searched: s.seen, Total: s.total, Requests: 1 + s.requests, TimedOut: s.timedOut, Unfiltered: s.unfiltered}
	}
	got, err := get(ctx, id)
	if err == nil {
		it, ok := any(got).(Item)
		if !ok || it.archivedState().known() {
			return got, nil
		}
		// Tallyfy answered but said nothing about the archived state (no archived_at):
		// the archived listing settles it, as callers decide archive, restore and delete on it.
		listed, s, ferr := findArchived[T, W, PW](ctx, c, collection, id)
		switch {
		case ferr != nil:
			return nil, ferr
		case listed != nil:
			it.setArchived(archivedYes)
		case s.complete:
			it.setArchived(archivedNo)
		default:
			return nil, bounded(s, true)
		}
		return got, nil
	}
	if !IsNotFound(err) {
		return nil, err
	}
	found, s, ferr := findArchived[T, W, PW](ctx, c, collection, id)
	switch {
	case ferr != nil:
		// The archived listing failed: whether the item exists is unknown, so do not
		// report the GET's 404 (callers read "not found" as "gone").
		return nil, ferr
	case found != nil:
		return found, nil
	case !s.complete:
		return nil, bounded(s, false)
	}
	// Neither live nor among all the archived ones: unless it was restored between the two
	// reads (then a second GET finds it), it is gone.
	return get(ctx, id)
}
