package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// validationRewriter turns mcp-go's input validation failures ("/task_id: &{Got:… Want:…}")
// into sentences a model can act on. It runs only on the failure path, so a tool's schema is
// compiled the first time one of its calls fails, not at startup (cold start matters).
type validationRewriter struct {
	// rejected is told which tool call was refused and why (for the audit).
	rejected func(ctx context.Context, tool, detail string)
	mu       sync.Mutex
	raw      map[string]json.RawMessage
	schemas  map[string]*jsonschema.Schema
	printer  *message.Printer
}

func newValidationRewriter() *validationRewriter {
	return &validationRewriter{raw: map[string]json.RawMessage{}, schemas: map[string]*jsonschema.Schema{}, printer: message.NewPrinter(language.English)}
}

func (v *validationRewriter) add(t mcp.Tool) {
	v.mu.Lock()
	v.raw[t.Name] = t.RawInputSchema
	v.mu.Unlock()
}

// schema compiles (once) and returns a tool's input schema and its property names.
func (v *validationRewriter) schema(tool string) (*jsonschema.Schema, []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	raw, ok := v.raw[tool]
	if !ok {
		return nil, nil
	}
	var props struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(raw, &props)
	names := make([]string, 0, len(props.Properties))
	for n := range props.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	if s, ok := v.schemas[tool]; ok {
		return s, names
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, nil
	}
	c := jsonschema.NewCompiler()
	url := "mem:///" + tool + ".json"
	if c.AddResource(url, doc) != nil {
		return nil, nil
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, nil
	}
	v.schemas[tool] = s
	return s, names
}

// rewrite is an AfterCallTool hook: it replaces the text of a validation failure in place.
func (v *validationRewriter) rewrite(ctx context.Context, _ any, req *mcp.CallToolRequest, result any) {
	res, ok := result.(*mcp.CallToolResult)
	if !ok || !res.IsError || len(res.Content) != 1 {
		return
	}
	text, ok := res.Content[0].(mcp.TextContent)
	if !ok || !isValidationFailure(text.Text) {
		return
	}
	s, props := v.schema(req.Params.Name)
	if s == nil {
		return
	}
	args, err := json.Marshal(req.GetRawArguments())
	if err != nil {
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil || string(args) == "null" {
		inst = map[string]any{}
	}
	err = s.Validate(inst)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return
	}
	var parts, names []string
	for _, leaf := range leaves(verr) {
		where := "arguments"
		if len(leaf.InstanceLocation) > 0 {
			where = strings.Join(leaf.InstanceLocation, ".")
		}
		parts = append(parts, where+": "+v.explain(leaf))
		names = append(names, where)
	}
	if v.rejected != nil {
		v.rejected(ctx, req.Params.Name, "invalid arguments: "+strings.Join(names, ", "))
	}
	text.Text = fmt.Sprintf("Invalid arguments for %s: %s. Nothing was changed. Valid arguments: %s.",
		req.Params.Name, strings.Join(parts, "; "), strings.Join(props, ", "))
	res.Content[0] = text
}

// explain says what is wrong with one argument: a Tallyfy ID in plain words rather than its
// regular expression (an upper-case ID is the usual slip), anything else as the validator puts it.
func (v *validationRewriter) explain(leaf *jsonschema.ValidationError) string {
	if p, ok := leaf.ErrorKind.(*kind.Pattern); ok && p.Want == schemas.IDPattern {
		msg := fmt.Sprintf("must be a Tallyfy ID, 32 hex characters in lower case (0-9, a-f), not %q", clipArg(p.Got))
		if lower := strings.ToLower(p.Got); tallyfy.ValidID(lower) {
			msg += fmt.Sprintf(" (Tallyfy IDs are lower case: pass %q)", lower)
		}
		return msg
	}
	return leaf.ErrorKind.LocalizedString(v.printer)
}

// clipArg shortens an argument value quoted back to the caller.
func clipArg(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
