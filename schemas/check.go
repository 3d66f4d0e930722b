package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Violation is one way a tool call's arguments break the tool's input schema.
type Violation struct {
	Where string // the argument ("task_id", "ids.2"), or "arguments" for the object as a whole
	Why   string // what is wrong, in words a model can act on
}

// checker is an argument type's served schema, compiled the first time a call of it is
// checked (cold start matters), and its property names.
type checker struct {
	once   sync.Once
	schema *jsonschema.Schema
	props  []string
}

var (
	checkersMu sync.Mutex
	checkers   = map[reflect.Type]*checker{}
	printer    = message.NewPrinter(language.English)
)

func checkerFor(args any) *checker {
	checkersMu.Lock()
	c, ok := checkers[reflect.TypeOf(args)]
	if !ok {
		c = &checker{}
		checkers[reflect.TypeOf(args)] = c
	}
	checkersMu.Unlock()
	c.once.Do(func() { c.compile(JSON(args)) })
	return c
}

// compile builds the validator of a served schema exactly as the MCP library would (the same
// validator, draft and document), so a call passes here if and only if it would pass there.
func (c *checker) compile(raw json.RawMessage) {
	var props struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &props); err != nil {
		panic(fmt.Sprintf("schemas: a served schema is not JSON: %v (run make schemas)", err))
	}
	for n := range props.Properties {
		c.props = append(c.props, n)
	}
	sort.Strings(c.props)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("schemas: %v (run make schemas)", err))
	}
	comp := jsonschema.NewCompiler()
	const url = "mem:///args.json"
	if err := comp.AddResource(url, doc); err != nil {
		panic(fmt.Sprintf("schemas: %v (run make schemas)", err))
	}
	if c.schema, err = comp.Compile(url); err != nil {
		panic(fmt.Sprintf("schemas: a served schema does not compile: %v (run make schemas)", err))
	}
}

// Properties returns the argument names of args' type (a sample as in JSON), sorted.
func Properties(args any) []string { return checkerFor(args).props }

// Check validates a tool call's arguments (as decoded from JSON; nil or JSON null for none)
// against the served input schema of args' type (a sample as in JSON). nil: they are valid.
func Check(args any, arguments any) []Violation {
	inst, err := instance(arguments)
	if err != nil {
		return []Violation{{Where: "arguments", Why: "must be a JSON object of the documented arguments"}}
	}
	var verr *jsonschema.ValidationError
	if !errors.As(checkerFor(args).schema.Validate(inst), &verr) {
		return nil
	}
	var out []Violation
	for _, leaf := range leaves(verr) {
		where := "arguments"
		if len(leaf.InstanceLocation) > 0 {
			where = strings.Join(leaf.InstanceLocation, ".")
		}
		out = append(out, Violation{Where: where, Why: explain(leaf)})
	}
	return out
}

// instance is the arguments as the validator reads them; none (nil or null) is an empty object.
func instance(arguments any) (any, error) {
	raw, ok := arguments.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(arguments); err != nil {
			return nil, err
		}
	}
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

// explain says what is wrong with one argument: a Tallyfy ID in plain words rather than its
// regular expression (an upper-case ID is the usual slip), anything else as the validator puts it.
func explain(leaf *jsonschema.ValidationError) string {
	if p, ok := leaf.ErrorKind.(*kind.Pattern); ok && p.Want == IDPattern {
		msg := fmt.Sprintf("must be a Tallyfy ID, 32 hex characters in lower case (0-9, a-f), not %q", clip(p.Got))
		if lower := strings.ToLower(p.Got); tallyfy.ValidID(lower) {
			msg += fmt.Sprintf(" (Tallyfy IDs are lower case: pass %q)", lower)
		}
		return msg
	}
	return leaf.ErrorKind.LocalizedString(printer)
}

// clip shortens an argument value quoted back to the caller.
func clip(s string) string {
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
