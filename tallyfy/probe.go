package tallyfy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Answer is Tallyfy's raw answer to one probe: what `tallyfy-mcp check --live` records to learn
// how this organization's Tallyfy behaves where no source says (issue 18 point 9). Nothing in it
// is interpreted.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte // at most probeBodyCap bytes
}

// probeBodyCap bounds a probe's body read: the answers probed are single items or errors.
const probeBodyCap = 1 << 20

// Probe sends one request to path below the client's organization ("/tasks/{id}"), with body
// as JSON when it is not nil, and returns the answer as it came: one attempt, never retried
// (a probe must know exactly what it sent), paced and bounded like every other call.
func (c *Client) Probe(ctx context.Context, method, path string, query url.Values, body any) (*Answer, error) {
	if err := c.pace.wait(ctx, method, path, c.cfg.MaxRetryAfter); err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("tallyfy: encoding the probe's body: %w", err)
		}
		raw = b
	}
	resp, err := c.send(actx, method, c.base.Path+"/organizations/"+c.cfg.OrgID+path, query, raw)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &TransportError{Method: method, Path: path, Err: err, Sent: !isConnRefused(err)}
	}
	defer resp.Body.Close()
	rl := RateLimitOf(resp.Header)
	observeRateLimit(ctx, rl)
	b, err := io.ReadAll(io.LimitReader(resp.Body, probeBodyCap))
	if err != nil {
		return nil, &TransportError{Method: method, Path: path, Err: err, Sent: true}
	}
	var retryAfter time.Duration
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		retryAfter = parseAPIError(resp.StatusCode, resp.Header, b, method, path).RetryAfter
	}
	c.pace.observe(resp.StatusCode, rl, retryAfter, c.cfg.MaxRetryAfter, time.Now())
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
