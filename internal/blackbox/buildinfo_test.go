package blackbox

import (
	"debug/buildinfo"
	"strings"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/harness"
)

// The binary is built with profile-guided optimization from default.pgo, as `go build` and
// `go install` do for this main package: a profile that went missing or stopped parsing would
// silently cost every deployment CPU (or, corrupt, fail the build).
func TestBinaryIsBuiltWithTheProfile(t *testing.T) {
	info, err := buildinfo.ReadFile(harness.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if s.Key == "-pgo" {
			if !strings.HasSuffix(s.Value, "default.pgo") {
				t.Errorf("built with -pgo=%s, want default.pgo", s.Value)
			}
			return
		}
	}
	t.Errorf("the binary was built without profile-guided optimization: default.pgo is missing (make pgo)")
}

// The server serves the checked-in schemas and never reflects on its types: the generator
// (invopop/jsonschema, which links go/parser and a YAML library) stays out of the binary.
func TestBinaryDoesNotLinkTheSchemaGenerator(t *testing.T) {
	info, err := buildinfo.ReadFile(harness.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/invopop/jsonschema" {
			t.Errorf("the binary links %s: only schemas/schemagen may import it", d.Path)
		}
	}
}
