package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// BrokenShape makes the sandbox serve one field of one kind in a JSON shape that no Tallyfy
// source documents, e.g. a run's progress as an array. It exists to test that clients, and
// `tallyfy-mcp check`, name such a field instead of failing the whole answer. It applies to
// every answer of that kind's endpoints that carries a data envelope (one item or a list):
// for "me" GET /me, for "organization" every item of GET /me/organizations.
type BrokenShape struct {
	Kind  string // task, run, template, me or organization
	Field string // a top-level field of the item, e.g. "progress"
	Type  string // the JSON type served: array, object, string, number, bool or null
}

// brokenValues is what each Type serves.
var brokenValues = map[string]json.RawMessage{
	"array":  json.RawMessage(`[25,"undocumented"]`),
	"object": json.RawMessage(`{"undocumented":true}`),
	"string": json.RawMessage(`"undocumented"`),
	"number": json.RawMessage(`7`),
	"bool":   json.RawMessage(`true`),
	"null":   json.RawMessage(`null`),
}

// String is the spec ParseBrokenShape reads back: kind.field=type.
func (b BrokenShape) String() string { return b.Kind + "." + b.Field + "=" + b.Type }

// Kinds of answer a BrokenShape can apply to besides the records': the token's user (GET /me)
// and the user's organizations (GET /me/organizations).
const (
	kindMe           = "me"
	kindOrganization = "organization"
)

// ParseBrokenShape reads "kind.field[=type]", e.g. "run.progress" (type array by default),
// "task.title=number" or "organization.user_role=object".
func ParseBrokenShape(spec string) (BrokenShape, error) {
	path, typ, _ := strings.Cut(strings.TrimSpace(spec), "=")
	if typ == "" {
		typ = "array"
	}
	kind, field, ok := strings.Cut(path, ".")
	switch {
	case !ok || field == "" || strings.Contains(field, "."):
		return BrokenShape{}, fmt.Errorf("broken shape %q: want kind.field[=type], e.g. run.progress=array", spec)
	case kind != kindTask && kind != kindRun && kind != kindTemplate && kind != kindMe && kind != kindOrganization:
		return BrokenShape{}, fmt.Errorf("broken shape %q: kind must be task, run, template, me or organization", spec)
	}
	if _, ok := brokenValues[typ]; !ok {
		return BrokenShape{}, fmt.Errorf("broken shape %q: type must be array, object, string, number, bool or null", spec)
	}
	return BrokenShape{Kind: kind, Field: field, Type: typ}, nil
}

// WithBrokenShape adds a broken shape (see BrokenShape). Bad kinds or types are ignored; use
// ParseBrokenShape to check a spec first.
func WithBrokenShape(b BrokenShape) Option {
	return func(s *Sandbox) {
		if _, ok := brokenValues[b.Type]; ok && b.Field != "" {
			s.broken = append(s.broken, b)
		}
	}
}

// breakShapes rewrites a successful answer of kind's endpoints so that each broken field has
// its broken value. Answers without a data envelope (errors, empty bodies) pass unchanged.
func (s *Sandbox) breakShapes(kind string, res response) response {
	fields := slices.DeleteFunc(slices.Clone(s.broken), func(b BrokenShape) bool { return b.Kind != kind })
	var env map[string]json.RawMessage
	if len(fields) == 0 || res.status/100 != 2 || json.Unmarshal(res.body, &env) != nil || env["data"] == nil {
		return res
	}
	patch := func(item json.RawMessage) json.RawMessage {
		var obj map[string]json.RawMessage
		if json.Unmarshal(item, &obj) != nil {
			return item
		}
		for _, b := range fields {
			obj[b.Field] = brokenValues[b.Type]
		}
		out, err := json.Marshal(obj)
		if err != nil {
			return item
		}
		return out
	}
	var list []json.RawMessage
	if json.Unmarshal(env["data"], &list) == nil {
		for i := range list {
			list[i] = patch(list[i])
		}
		env["data"], _ = json.Marshal(list)
	} else {
		env["data"] = patch(env["data"])
	}
	body, err := json.Marshal(env)
	if err != nil {
		return res
	}
	return response{status: res.status, body: body}
}
