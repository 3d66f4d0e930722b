package tallyfy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
)

// ShapeIssue is a field the tools use that arrived in a JSON shape no published source shows.
type ShapeIssue struct {
	Path  string // where, e.g. "run.progress" or "tasks[].owners.users[]"
	Found string // the JSON type found: "object", "array", "string", "number", "bool" or "null"
}

type shapeReporterKey struct{}

// WithShapeReporter returns a context whose client calls report each ShapeIssue to fn,
// besides the client's own warning log.
func WithShapeReporter(ctx context.Context, fn func(ShapeIssue)) context.Context {
	return context.WithValue(ctx, shapeReporterKey{}, fn)
}

// reportShapes logs each issue, its path after prefix, as a warning (the field path and the
// JSON type, never the value: a value may be a name or an email) and hands it to the
// context's reporter, if any.
func (c *Client) reportShapes(ctx context.Context, prefix string, issues []ShapeIssue) {
	if len(issues) == 0 {
		return
	}
	fn, _ := ctx.Value(shapeReporterKey{}).(func(ShapeIssue))
	seen := make(map[ShapeIssue]bool, len(issues))
	for _, is := range issues {
		is.Path = prefix + is.Path
		if seen[is] { // a page of items with the same odd field: once per call
			continue
		}
		seen[is] = true
		c.cfg.Logger.WarnContext(ctx, "tallyfy: a field arrived in an undocumented shape; shown as unknown",
			"field", is.Path, "json_type", is.Found)
		if fn != nil {
			fn(is)
		}
	}
}

// shaped is a decoded value that carries the shape issues its decode found.
type shaped interface{ shapeIssues() []ShapeIssue }

// decodeOne decodes {"data": item} in one pass (the envelope's field holds the wire form
// itself, so the item is not copied out and parsed a second time: this is on every call) and
// reports the item's shape issues after prefix.
func decodeOne[T, W any, PW wire[T, W]](ctx context.Context, c *Client, prefix, method, path string, r *response) (*T, error) {
	if !bytes.Contains(r.Body, []byte(`"data"`)) {
		if !json.Valid(r.Body) {
			return nil, r.unusable(method, path, describeJSONError(r, json.Unmarshal(r.Body, new(any))))
		}
		return nil, r.unusable(method, path, "no data envelope")
	}
	var w W
	env := struct {
		Data any `json:"data"`
	}{Data: &w}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		if reason, ok := notAnObject(err); ok {
			return nil, r.unusable(method, path, reason)
		}
		if errors.As(err, new(*json.SyntaxError)) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, r.unusable(method, path, describeJSONError(r, err))
		}
		return nil, r.unusable(method, path, "unexpected data: "+Truncate(err.Error(), 200))
	}
	if env.Data == nil { // "data": null
		return nil, r.unusable(method, path, "no data envelope")
	}
	v, err := PW(&w).decode()
	if err != nil {
		return nil, r.unusable(method, path, err.Error())
	}
	c.reportShapes(ctx, prefix, any(&v).(shaped).shapeIssues())
	return &v, nil
}

// reportItems reports the shape issues of a page's items after prefix, each once.
func reportItems[T any](ctx context.Context, c *Client, prefix string, items []T) {
	var issues []ShapeIssue
	for i := range items {
		issues = append(issues, any(&items[i]).(shaped).shapeIssues()...)
	}
	c.reportShapes(ctx, prefix, issues)
}
