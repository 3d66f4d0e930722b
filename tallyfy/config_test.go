package tallyfy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	accept := map[string]string{
		"https://go.tallyfy.com/api":   "https://go.tallyfy.com/api",
		"https://go.tallyfy.com/api/":  "https://go.tallyfy.com/api",
		" https://api.tallyfy.com ":    "https://api.tallyfy.com",
		"https://api.tallyfy.com/":     "https://api.tallyfy.com",
		"HTTPS://api.tallyfy.com":      "https://api.tallyfy.com",
		"https://go.tallyfy.com:8443/": "https://go.tallyfy.com:8443",
		"http://127.0.0.1:8080/api":    "http://127.0.0.1:8080/api",
		"http://127.0.0.2:1/api":       "http://127.0.0.2:1/api",
		"http://[::1]:9000/api":        "http://[::1]:9000/api",
		"http://localhost:1234":        "http://localhost:1234",
		"http://LocalHost/api":         "http://LocalHost/api",
	}
	for in, want := range accept {
		u, err := ParseBaseURL(in)
		if err != nil {
			t.Errorf("ParseBaseURL(%q): %v", in, err)
			continue
		}
		if u.String() != want {
			t.Errorf("ParseBaseURL(%q) = %q, want %q", in, u.String(), want)
		}
	}
	reject := []string{
		"",
		"   ",
		"http://example.com",
		"http://go.tallyfy.com/api",
		"http://localhost.example.com/api",
		"http://127.0.0.1.nip.io/api",
		"http://0.0.0.0:8080/api",
		"http://10.0.0.1/api",
		"ftp://go.tallyfy.com/api",
		"file:///etc/passwd",
		"javascript:alert(1)",
		"ws://localhost/api",
		"https://user:pass@go.tallyfy.com/api",
		"https://user@go.tallyfy.com/api",
		"http://user:pass@127.0.0.1/api",
		"https://go.tallyfy.com/api?x=1",
		"https://go.tallyfy.com/api?",
		"https://go.tallyfy.com/api#frag",
		"go.tallyfy.com/api",
		"/api",
		"api",
		"//go.tallyfy.com/api",
		"https://",
		"https:///api",
		"https://go.tallyfy.com/%zz",
	}
	for _, in := range reject {
		if u, err := ParseBaseURL(in); err == nil {
			t.Errorf("ParseBaseURL(%q) = %q, want an error", in, u)
		}
	}
	// Credentials are never echoed in the error, whatever else is wrong with the URL.
	for _, in := range []string{
		"https://alice:s3cr3t-pw@go.tallyfy.com/api",
		"http://alice:s3cr3t-pw@example.com/api",
		"https://alice:s3cr3t-pw@/api",
		"https://alice:s3cr3t-pw@go.tallyfy.com/%zz",
		"ftp://alice:s3cr3t-pw@go.tallyfy.com",
	} {
		_, err := ParseBaseURL(in)
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("ParseBaseURL(%q) error = %v", in, err)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.255.0.9": true, "::1": true,
		"": false, "0.0.0.0": false, "::": false, "example.com": false, "localhost.": false, "10.0.0.1": false,
	} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v", h, got)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: "tok", OrgID: testOrg})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.BaseURL() != DefaultBaseURL || c.OrgID() != testOrg {
		t.Errorf("BaseURL %q OrgID %q", c.BaseURL(), c.OrgID())
	}
	cfg := c.cfg
	if cfg.UserAgent != "tallyfy-mcp" || cfg.HTTPClient == nil || cfg.RequestTimeout != 30*time.Second || cfg.MaxBodyBytes != 4<<20 ||
		cfg.MaxTries != 4 || cfg.RetryBaseDelay != 250*time.Millisecond || cfg.MaxRetryAfter != 30*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	if c2, _ := New(Config{Token: "tok", OrgID: testOrg}); c2.cfg.HTTPClient == cfg.HTTPClient {
		// Each client gets its own pool; within one client it is shared (TestKeepAlive).
		t.Errorf("two clients share one default http.Client")
	}
	if c, err := New(Config{BaseURL: "https://api.tallyfy.com/", Token: "tok", OrgID: testOrg}); err != nil || c.BaseURL() != "https://api.tallyfy.com" {
		t.Errorf("New(api.tallyfy.com) = %v, %v", c, err)
	}

	for _, tok := range []string{"", "   ", "\t\n"} {
		if _, err := New(Config{Token: tok, OrgID: testOrg}); err == nil || !strings.Contains(err.Error(), "token") {
			t.Errorf("New(token %q) = %v", tok, err)
		}
	}
	for _, org := range []string{"", "acme", strings.ToUpper(testOrg), testOrg[:31], testOrg + "0", testOrg[:31] + "/",
		"../" + testOrg[3:], testOrg[:31] + "é", " " + testOrg[1:]} {
		_, err := New(Config{Token: "secret-token-value", OrgID: org})
		if err == nil || !strings.Contains(err.Error(), "organization id") || strings.Contains(err.Error(), "secret-token-value") {
			t.Errorf("New(org %q) = %v", org, err)
		}
	}
	if _, err := New(Config{BaseURL: "http://example.com/api", Token: "tok", OrgID: testOrg}); err == nil {
		t.Errorf("New accepted a plain-http remote base URL")
	}
	// A huge org id is not echoed whole.
	if _, err := New(Config{Token: "tok", OrgID: strings.Repeat("z", 10000)}); err == nil || len(err.Error()) > 300 {
		t.Errorf("New(huge org) error is %d bytes", len(err.Error()))
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{validID, testOrg, strings.Repeat("0", 32), strings.Repeat("f", 32)} {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	for _, id := range badIDs() {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

// badIDs are IDs that must never reach a URL.
func badIDs() []string {
	return []string{
		"",
		"abc",
		validID + "/delete",
		validID + "/restore",
		"../x",
		"..",
		"%2F..",
		validID[:29] + "%2F",
		strings.ToUpper(validID),
		"C" + validID[1:],
		validID[:31],
		validID + "a",
		validID + "?x=1",
		validID + "#",
		validID + "\n",
		"\n" + validID,
		" " + validID[1:],
		validID[:31] + " ",
		validID[:31] + "\x00",
		validID[:30] + "é", // 32 bytes, 31 runes
		validID[:31] + "ｆ", // fullwidth f
		"ｃ15bf2be31c3a7fbded5d13fce7aaab9",
		"g15bf2be31c3a7fbded5d13fce7aaab9",
		validID[:16] + "-" + validID[17:],
		strings.Repeat("a", 10000),
	}
}

// TestInvalidIDsNeverSent: for every method taking an ID, a bad ID gives *InvalidIDError
// and the server sees no request at all.
func TestInvalidIDsNeverSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) { reply(w, 204, "") })
	c := s.client(t)
	for _, ep := range idEndpoints {
		for _, id := range badIDs() {
			err := ep.call(ctx, c, id)
			var ie *InvalidIDError
			if !errors.As(err, &ie) {
				t.Errorf("%s(%q) = %v, want *InvalidIDError", ep.name, id, err)
				continue
			}
			if ie.Kind != ep.kind || ie.ID != id {
				t.Errorf("%s(%q): InvalidIDError{%q, %q}", ep.name, id, ie.Kind, ie.ID)
			}
			if msg := ie.Error(); !strings.Contains(msg, "^[a-f0-9]{32}$") || len(msg) > 250 {
				t.Errorf("%s: message %q", ep.name, msg)
			}
		}
	}
	if n := s.n.Load(); n != 0 {
		t.Errorf("the server saw %d requests for invalid ids", n)
	}
}
