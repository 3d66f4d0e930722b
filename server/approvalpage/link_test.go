package approvalpage

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// TestApprovalPageLink: the address a URL-mode elicitation carries. HTTP: /approve/{id} on the
// address the client reached the server at, https where TLS ends here or at a proxy in front
// (--insecure-http off loopback), never the secret; none without a known address. stdio: the
// loopback link with its secret.
func TestApprovalPageLink(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pa := &confirm.PendingApproval{ID: "abc123"}
	remote := New(false, nil, state.NewMemory(), nil, log, "")
	for _, tc := range []struct {
		host       string
		tls, proxy bool
		want       string
	}{
		{"127.0.0.1:8080", false, false, "http://127.0.0.1:8080/approve/abc123"},
		{"127.0.0.1:8080", false, true, "http://127.0.0.1:8080/approve/abc123"},
		{"mcp.example.com", false, true, "https://mcp.example.com/approve/abc123"},
		{"mcp.example.com", true, false, "https://mcp.example.com/approve/abc123"},
		{"[::1]:9", false, true, "http://[::1]:9/approve/abc123"},
	} {
		target := "http://" + tc.host + "/mcp"
		if tc.tls {
			target = "https://" + tc.host + "/mcp"
		}
		r := httptest.NewRequest("POST", target, nil)
		got, err := remote.Link(WithOrigin(context.Background(), r, tc.proxy), pa, "s3cret")
		if err != nil || got != tc.want {
			t.Errorf("%s tls=%v proxy=%v: %q, %v; want %q", tc.host, tc.tls, tc.proxy, got, err, tc.want)
		}
	}
	if got, err := remote.Link(context.Background(), pa, "s3cret"); err == nil {
		t.Errorf("a link without a known address: %q", got)
	}
	local := New(true, nil, state.NewMemory(), nil, log, "")
	t.Cleanup(func() { _ = local.Close() })
	got, err := local.Link(context.Background(), pa, "s3cret")
	if err != nil || got != local.base+"/approve/abc123/s3cret" || local.base == "" {
		t.Errorf("stdio link %q, %v", got, err)
	}
}
