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
	return &Client{cfg: cfg, base: base, pace: newPacer(cfg.Rate, cfg.RateBurst)}, nil
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

// once sends a single HTTP attempt, when the credential's pacer lets it leave.
func (c *Client) once(ctx context.Context, method, path string, query url.Values) (*response, error) {
	// Before the attempt's own timeout starts: waiting for a slot is not Tallyfy being slow.
	if err := c.pace.wait(ctx, method, path, c.cfg.MaxRetryAfter); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("tallyfy: building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Tallyfy-Client", "APIClient")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// url.Error repeats the URL; the token is never in it (header only).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
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
			ContentType: resp.Header.Get("Content-Type"), Reason: fmt.Sprintf("larger than %d bytes", c.cfg.MaxBodyBytes), Method: method, Path: path}
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
	if it, ok := v.(item); ok {
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
	if opts.Page > 0 {
		q.Set("page", strconv.Itoa(opts.Page))
	}
	if opts.PerPage > 0 {
		if opts.PerPage > 100 {
			opts.PerPage = 100
		}
		q.Set("per_page", strconv.Itoa(opts.PerPage))
	}
	p := c.path(collection, "", "")
	r, err := c.do(ctx, http.MethodGet, p, q, retrySafe)
	if err != nil {
		return nil, err
	}
	raw, said, err := decodeList[W](r, p)
	if err != nil {
		return nil, err
	}
	page := &Page[T]{Items: make([]T, len(raw))}
	for i := range raw {
		v, err := PW(&raw[i]).decode()
		if err != nil {
			return nil, r.unusable(http.MethodGet, p, err.Error())
		}
		page.Items[i] = v
	}
	// What the listing itself says about each item's archived state. Template and task list
	// items may carry no archived_at (docs/tallyfy-api.md §7), so an archived=only listing is the
	// only word on them: whatever an item's own fields say, it is archived. An exclude
	// listing holds live items only. An include listing cannot tell: items it returns
	// without archived_at stay unknown (a run's status still tells), and the lifecycle and
	// delete paths never decide from a listing but from Lookup.
	var issues []ShapeIssue
	for i := range page.Items {
		it, ok := any(&page.Items[i]).(item)
		if !ok {
			continue
		}
		switch opts.Archived {
		case ArchivedOnly:
			it.setArchived(archivedYes)
		case "", ArchivedExclude:
			if !it.archivedState().known() {
				it.setArchived(archivedNo)
			}
		}
		issues = append(issues, it.shapeIssues()...)
	}
	c.reportShapes(ctx, prefixed(collectionItem(collection)+"[].", issues))
	page.Pagination = pagination(said, len(page.Items))
	return page, nil
}

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

// findArchived pages through the archived-only list looking for id. Tallyfy answers 404 to a
// GET of an archived template (and, per INFERENCE in docs/tallyfy-api.md §2.1, possibly of an
// archived task), so the archived listing is the only way to see one.
func findArchived[T, W any, PW wire[T, W]](ctx context.Context, c *Client, collection string, extra url.Values, id string, idOf func(*T) string) (*T, error) {
	const perPage, maxPages = 100, 50
	for page := 1; page <= maxPages; page++ {
		p, err := list[T, W, PW](ctx, c, collection, ListOptions{Archived: ArchivedOnly, Page: page, PerPage: perPage}, extra)
		if err != nil {
			return nil, err
		}
		for i := range p.Items {
			if idOf(&p.Items[i]) == id {
				return &p.Items[i], nil
			}
		}
		if !p.HasMore() || len(p.Items) == 0 {
			return nil, nil
		}
	}
	// More pages remain unread: that is not "not found".
	return nil, fmt.Errorf("tallyfy: %s not among the first %d archived items; check it in Tallyfy", truncate(id, 80), perPage*maxPages)
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

// Lookup returns the current state of a task, run or template, archived or not.
func (c *Client) Lookup(ctx context.Context, kind Kind, id string) (Entity, error) {
	var e Entity
	var err error
	switch kind {
	case KindTask:
		var t *Task
		if t, err = c.FindTask(ctx, id); err == nil {
			e = t.Entity()
		}
	case KindRun:
		var r *Run
		if r, err = c.FindRun(ctx, id); err == nil {
			e = r.Entity()
		}
	case KindTemplate:
		var t *Template
		if t, err = c.FindTemplate(ctx, id); err == nil {
			e = t.Entity()
		}
	default:
		err = fmt.Errorf("tallyfy: unknown kind %q", kind)
	}
	if err == nil && !e.ArchivedKnown { // find settles it; a guard, as callers decide on it
		err = fmt.Errorf("tallyfy: Tallyfy did not say whether %s %s is archived; check it in Tallyfy", kind, truncate(id, 80))
	}
	return e, err
}

// optionalData decodes {"data": …} when there is a body; an empty 2xx body gives nil.
func optionalData[T, W any, PW wire[T, W]](ctx context.Context, c *Client, kind Kind, method, path string, r *response) (*T, error) {
	if len(trimSpace(r.Body)) == 0 {
		return nil, nil
	}
	return decodeItem[T, W, PW](ctx, c, kind, method, path, r)
}

// trimSpace trims without copying: it runs on every response body.
func trimSpace(b []byte) []byte { return bytes.TrimSpace(b) }

// find GETs one item and, on 404, looks for it among the archived ones.
func find[T, W any, PW wire[T, W]](ctx context.Context, c *Client, get func(context.Context, string) (*T, error), collection string, extra url.Values, id string, idOf func(*T) string) (*T, error) {
	got, err := get(ctx, id)
	if err == nil {
		it, ok := any(got).(item)
		if !ok || it.archivedState().known() {
			return got, nil
		}
		// Tallyfy answered but said nothing about the archived state (no archived_at):
		// the archived listing settles it, as callers decide archive, restore and delete on it.
		listed, ferr := findArchived[T, W, PW](ctx, c, collection, extra, id, idOf)
		if ferr != nil {
			return nil, ferr
		}
		if listed != nil {
			it.setArchived(archivedYes)
		} else {
			it.setArchived(archivedNo)
		}
		return got, nil
	}
	if !IsNotFound(err) {
		return nil, err
	}
	found, ferr := findArchived[T, W, PW](ctx, c, collection, extra, id, idOf)
	if ferr != nil {
		// The archived listing failed: whether the item exists is unknown, so do not
		// report the GET's 404 (callers read "not found" as "gone").
		return nil, ferr
	}
	if found == nil {
		// Neither live nor archived: unless it was restored between the two reads (then a
		// second GET finds it), it is gone.
		return get(ctx, id)
	}
	return found, nil
}
