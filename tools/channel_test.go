package tools

import (
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestFormElicitation: only a client whose elicitation capability covers form mode is asked
// the typed-name question; one that declares url mode alone is not (it gets the page).
func TestFormElicitation(t *testing.T) {
	for _, tc := range []struct {
		what string
		c    *mcp.ElicitationCapability
		want bool
	}{
		{"none", nil, false},
		{"{} (form by default)", &mcp.ElicitationCapability{}, true},
		{"form", &mcp.ElicitationCapability{Form: &struct{}{}}, true},
		{"form and url", &mcp.ElicitationCapability{Form: &struct{}{}, URL: &struct{}{}}, true},
		{"url only", &mcp.ElicitationCapability{URL: &struct{}{}}, false},
	} {
		if got := formElicitation(tc.c); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, got, tc.want)
		}
	}
}
