package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
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

// compiled holds each argument type's served schema, compiled the first time a call of it is
// checked (cold start matters): reflect.Type → *jsonschema.Schema.
var compiled sync.Map

// schemaOf compiles the served schema of args' type exactly as the MCP library would (the same
// validator, draft and document), so a call passes here if and only if it would pass there.
func schemaOf(args any) *jsonschema.Schema {
	if s, ok := compiled.Load(reflect.TypeOf(args)); ok {
		return s.(*jsonschema.Schema)
	}
	const url = "mem:///args.json"
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSON(args)))
	if err == nil {
		err = c.AddResource(url, doc)
	}
	var s *jsonschema.Schema
	if err == nil {
		s, err = c.Compile(url)
	}
	if err != nil {
		panic(fmt.Sprintf("schemas: the served schema of %T does not compile: %v (run make schemas)", args, err))
	}
	got, _ := compiled.LoadOrStore(reflect.TypeOf(args), s)
	return got.(*jsonschema.Schema)
}

// Properties returns the argument names of args' type (a sample as in JSON), sorted.
func Properties(args any) []string { return slices.Sorted(maps.Keys(schemaOf(args).Properties)) }

// Check validates a tool call's arguments (as decoded from JSON; nil or JSON null for none)
// against the served input schema of args' type (a sample as in JSON). nil: they are valid.
func Check(args any, arguments any) []Violation {
	raw, err := json.Marshal(arguments)
	var inst any = map[string]any{}
	if err == nil && string(raw) != "null" {
		if inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			inst = map[string]any{}
		}
	}
	var verr *jsonschema.ValidationError
	if !errors.As(schemaOf(args).Validate(inst), &verr) {
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
	return leaf.ErrorKind.LocalizedString(message.NewPrinter(language.English))
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
