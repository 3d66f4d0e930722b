package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/textdiff"
	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/schemas/schemagen"
)

const regenerate = "run `make schemas` or `go generate ./schemas/` and commit the result"

// TestCheckedInSchemasMatchTypes regenerates every schema of schemas.Named and compares it
// with the checked-in schemas/<name>.json.
func TestCheckedInSchemasMatchTypes(t *testing.T) {
	t.Parallel()
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := schemagen.Pretty(schemagen.For(schemas.Named[name]))
			got, err := os.ReadFile(name + ".json")
			if err != nil {
				t.Fatalf("schemas/%s.json is missing (%v): %s", name, err, regenerate)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("schemas/%s.json is stale: it differs from the schema of %T; %s.\n%s",
					name, schemas.Named[name], regenerate, textdiff.Lines("checked in", "generated", string(got), string(want)))
			}
		})
	}
}

// TestNoStaleSchemaFiles fails on a checked-in *.json that no type produces any more.
func TestNoStaleSchemaFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(schemas.Named) {
		t.Errorf("%d schema files checked in, %d types in schemas.Named", len(files), len(schemas.Named))
	}
	for _, f := range files {
		if _, ok := schemas.Named[strings.TrimSuffix(f, ".json")]; !ok {
			t.Errorf("schemas/%s is not generated from any type in schemas.Named: delete it or add the type", f)
		}
	}
}

// TestWriteAllReproducesCheckedInFiles runs the generator into a temporary directory, as
// `go generate` does, and compares byte for byte.
func TestWriteAllReproducesCheckedInFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := schemagen.WriteAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range schemas.Names() {
		gen, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		in, _ := os.ReadFile(name + ".json")
		if !bytes.Equal(gen, in) {
			t.Errorf("generator output for %s differs from schemas/%s.json: %s", name, name, regenerate)
		}
		if !bytes.HasSuffix(gen, []byte("}\n")) {
			t.Errorf("%s.json does not end with a newline", name)
		}
	}
}

// TestSchemasAreFlat checks the shape MCP hosts need: a top-level object, everything inlined,
// additionalProperties false on every struct, a description on every property, IDs patterned.
func TestSchemasAreFlat(t *testing.T) {
	t.Parallel()
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var s map[string]any
			if err := json.Unmarshal(schemagen.For(schemas.Named[name]), &s); err != nil {
				t.Fatal(err)
			}
			if s["type"] != "object" {
				t.Errorf("top-level type is %v, want object", s["type"])
			}
			for _, k := range []string{"anyOf", "oneOf", "allOf"} {
				if _, ok := s[k]; ok {
					t.Errorf("top-level %s", k)
				}
			}
			walkSchema(t, "", s, func(path string, node map[string]any) {
				for _, k := range []string{"$ref", "$defs", "definitions", "$schema", "$id"} {
					if _, ok := node[k]; ok {
						t.Errorf("%s: has %s", path, k)
					}
				}
				if node["type"] == "array" {
					if _, ok := node["items"].(map[string]any); !ok {
						t.Errorf("%s: array without items", path)
					}
				}
				// Result (output) schemas are compacted on purpose: no descriptions and no
				// additionalProperties, to keep tools/list within the context budget
				// (internal/packaging/budget_test.go). The rules below are for arguments.
				if !strings.HasSuffix(name, "_args") {
					if _, ok := node["description"]; ok && path != "" {
						t.Errorf("%s: result schema not compacted (has a description)", path)
					}
					return
				}
				if node["type"] == "object" {
					if _, isMap := node["additionalProperties"].(map[string]any); !isMap && node["additionalProperties"] != false {
						t.Errorf("%s: object without additionalProperties:false", path)
					}
				}
				props, _ := node["properties"].(map[string]any)
				for pn, pv := range props {
					p, _ := pv.(map[string]any)
					// The app-only tools' arguments (app_*) are read by the MCP App view alone,
					// never by a model: they go without descriptions to keep tools/list in budget.
					if d, _ := p["description"].(string); strings.TrimSpace(d) == "" && !strings.HasPrefix(name, "app_") {
						t.Errorf("%s.%s: no description", path, pn)
					}
					if strings.HasSuffix(pn, "_id") && strings.HasSuffix(name, "_args") && p["pattern"] != schemas.IDPattern {
						t.Errorf("%s.%s: pattern %v, want %s", path, pn, p["pattern"], schemas.IDPattern)
					}
				}
			})
		})
	}
}

func walkSchema(t *testing.T, path string, node map[string]any, visit func(string, map[string]any)) {
	t.Helper()
	visit(path, node)
	if props, ok := node["properties"].(map[string]any); ok {
		for k, v := range props {
			if m, ok := v.(map[string]any); ok {
				walkSchema(t, path+"."+k, m, visit)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m, ok := node[k].(map[string]any); ok {
			walkSchema(t, path+"["+k+"]", m, visit)
		}
	}
}

// TestTagsHaveNoUnescapedCommas catches a description cut short by an unescaped comma: invopop
// splits jsonschema tags on commas, so "description=live, archived or deleted" becomes the
// description "live" plus a stray " archived or deleted" that is silently dropped.
func TestTagsHaveNoUnescapedCommas(t *testing.T) {
	t.Parallel()
	keyed := regexp.MustCompile(`^[a-zA-Z_]+=`)
	flags := []string{"required", "nullable", "uniqueItems", "readOnly", "writeOnly", "-"}
	seen := map[reflect.Type]bool{}
	var check func(path string, typ reflect.Type)
	check = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("jsonschema")
			for _, piece := range splitUnescaped(tag) {
				if piece == "" || keyed.MatchString(piece) || slices.Contains(flags, piece) {
					continue
				}
				t.Errorf("%s.%s: jsonschema tag piece %q is neither key=value nor a flag: a comma inside a value must be written \\\\, (tag %q)",
					path, f.Name, piece, tag)
			}
			check(path+"."+f.Name, f.Type)
		}
	}
	for _, name := range schemas.Names() {
		v := schemas.Named[name]
		check(reflect.TypeOf(v).Name(), reflect.TypeOf(v))
	}
}

// splitUnescaped splits like invopop/jsonschema does: on commas not preceded by a backslash.
func splitUnescaped(tag string) []string {
	if tag == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(tag, ",") {
		if n := len(out); n > 0 && strings.HasSuffix(out[n-1], `\`) {
			out[n-1] = strings.TrimSuffix(out[n-1], `\`) + "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// TestDescriptionsKeepTheirWholeText compares a few descriptions with their full intended text.
func TestDescriptionsKeepTheirWholeText(t *testing.T) {
	t.Parallel()
	// Result schemas are compacted (no descriptions), so check the nested type on its own.
	var s struct {
		Properties map[string]struct {
			Description string `json:"description"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schemagen.For(schemas.Resource{}), &s); err != nil {
		t.Fatal(err)
	}
	props := s.Properties
	if d := props["state"].Description; !strings.Contains(d, "archived") || !strings.Contains(d, "deleted") {
		t.Errorf("resource.state description is cut short: %q", d)
	}
	if d := props["type"].Description; !strings.Contains(d, "template") {
		t.Errorf("resource.type description is cut short: %q", d)
	}
}

// TestForIsDeterministic: the checked-in files are only stable if generation is.
func TestForIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range schemas.Names() {
		a, b := schemagen.For(schemas.Named[name]), schemagen.For(schemas.Named[name])
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two generations differ", name)
		}
	}
}
