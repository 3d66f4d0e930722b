// Package docs generates the README's tool and configuration tables from the tool table and
// the flag table, so the README cannot drift from the code.
package docs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// ToolTable is the Markdown table of every tool.
func ToolTable() string {
	var b strings.Builder
	b.WriteString("| tool | title | tier | reversible | annotations | what it does |\n|---|---|---|---|---|---|\n")
	for _, t := range tools.All {
		rev := "yes"
		switch {
		case t.Tier == tools.TierRead:
			rev = "n/a (read only)"
		case !t.Reversible():
			rev = "**no**"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", t.Name, t.Title, t.Tier, rev, hints(t.Hints), t.Description)
	}
	return b.String()
}

// FlagTable is the Markdown table of every flag and its environment variable.
func FlagTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment variable | default | meaning |\n|---|---|---|---|\n")
	for _, o := range server.Options {
		env, def := "", ""
		if o.Env != "" {
			env = "`" + o.Env + "`"
		}
		if o.Default != "" {
			def = "`" + o.Default + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", o.Name, env, def, strings.ReplaceAll(o.Usage, "|", "\\|"))
	}
	return b.String()
}

// Sections maps each generated README section to its content.
func Sections() map[string]string {
	return map[string]string{"tools": ToolTable(), "flags": FlagTable()}
}

// Update replaces the text between <!-- NAME:start --> and <!-- NAME:end --> for each section.
func Update(readme []byte) ([]byte, error) {
	for name, body := range Sections() {
		start, end := []byte("<!-- "+name+":start -->\n"), []byte("<!-- "+name+":end -->")
		i := bytes.Index(readme, start)
		j := bytes.Index(readme, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("README has no %s section markers", name)
		}
		var out bytes.Buffer
		out.Write(readme[:i+len(start)])
		out.WriteString(body)
		out.Write(readme[j:])
		readme = out.Bytes()
	}
	return readme, nil
}

// hints names the annotations that are true, e.g. "destructive, idempotent, open-world".
func hints(h tools.Hints) string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{h.ReadOnly, "read-only"}, {h.Destructive, "destructive"}, {h.Idempotent, "idempotent"}, {h.OpenWorld, "open-world"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ", ")
}
