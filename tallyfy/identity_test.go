package tallyfy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

func TestSandboxIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := startSandbox(t)

	for _, tc := range []struct {
		name       string
		client     *Client
		wantID     string
		wantName   string
		wantRole   Role
		mayDelete  bool
		wantStatus string
	}{
		{"admin", env.admin(t), "1001", "Avery Admin", RoleAdmin, true, "active"},
		{"member", env.member(t), "1002", "Morgan Member", RoleStandard, false, "active"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			me, err := tc.client.GetMe(ctx)
			if err != nil {
				t.Fatalf("GetMe: %v", err)
			}
			if me.ID != tc.wantID || me.Name() != tc.wantName || !strings.Contains(me.Email, "@") {
				t.Errorf("GetMe = %+v", me)
			}
			ms, err := tc.client.GetMembership(ctx)
			if err != nil {
				t.Fatalf("GetMembership: %v", err)
			}
			if ms.OrgID != sandbox.OrgID || ms.Name != sandbox.OrgName || ms.Role != tc.wantRole || ms.Status != tc.wantStatus {
				t.Errorf("GetMembership = %+v", ms)
			}
			if ms.Role.MayDeletePermanently() != tc.mayDelete {
				t.Errorf("%s.MayDeletePermanently() = %v", ms.Role, !tc.mayDelete)
			}
		})
	}

	// Another organization: the user's list is read to its end without it.
	other := newTestClient(t, fastConfig(env.base, sandbox.AdminToken, strings.Repeat("ab", 16)))
	_, err := other.GetMembership(ctx)
	var nm *NotMemberError
	if !errors.As(err, &nm) || len(nm.Orgs) != 2 || nm.OrgID != strings.Repeat("ab", 16) {
		t.Errorf("GetMembership(other org) = %v, want *NotMemberError having seen 2", err)
	}

	// A bad token is Tallyfy's 401.
	bad := newTestClient(t, fastConfig(env.base, "not-a-token", sandbox.OrgID))
	if _, err := bad.GetMe(ctx); StatusOf(err) != http.StatusUnauthorized {
		t.Errorf("GetMe(bad token) = %v, want a 401", err)
	}
}

func TestRateLimitObserver(t *testing.T) {
	t.Parallel()
	env := startSandbox(t)
	c := env.admin(t)
	var mu sync.Mutex
	var seen []RateLimit
	ctx := WithRateLimitObserver(context.Background(), func(rl RateLimit) {
		mu.Lock()
		seen = append(seen, rl)
		mu.Unlock()
	})
	if _, err := c.GetMe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListRuns(ctx, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without the observer nothing is reported.
	if _, err := c.GetMe(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("observer saw %d answers, want 2: %+v", len(seen), seen)
	}
	// The sandbox sends no X-RateLimit-Limit: no source documents it.
	if seen[0].Limit != "" || seen[0].Remaining == "" || seen[1].Remaining == seen[0].Remaining {
		t.Errorf("rate-limit headers = %+v", seen)
	}

	// A 429 is observed too, with its Retry-After, before the retry.
	env.setFaults(t, "429=0#1:GET~/me")
	seen = seen[:0]
	mu.Unlock()
	_, err := c.GetMe(ctx)
	mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].RetryAfter != "0" || seen[1].RetryAfter != "" {
		t.Errorf("after a 429 the observer saw %+v", seen)
	}
}

func TestIdentityDecodesTolerantly(t *testing.T) {
	t.Parallel()
	// Shapes seen or plausible: a string id, roles in any case, unknown fields of any shape,
	// a name field that is not a string.
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/me":
			reply(w, 200, `{"data":{"id":"77","email":"x@example.com","first_name":{"weird":1},"last_name":null,"username":"xu","extra":[1,2]}}`)
		case "/api/me/organizations":
			page := r.URL.Query().Get("page")
			if page == "1" {
				reply(w, 200, `{"data":[{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":"A","user_role":"LIGHT"}],
					"meta":{"pagination":{"total":2,"count":1,"per_page":1,"current_page":1,"total_pages":2,"links":[]}}}`)
				return
			}
			reply(w, 200, fmt.Sprintf(`{"data":[{"id":%q,"name":"Org","user_role":" Admin ","user_status":"Active","settings":{"a":1}}],
				"meta":{"pagination":{"total":2,"count":1,"per_page":1,"current_page":2,"total_pages":2}}}`, testOrg))
		default:
			reply(w, 404, `{"error":true,"message":"API endpoint not found","code":"ENDPOINT_NOT_FOUND"}`)
		}
	})
	c := s.client(t)
	var issues []ShapeIssue
	ctx := WithShapeReporter(context.Background(), func(is ShapeIssue) { issues = append(issues, is) })
	me, err := c.GetMe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != "77" || me.FirstName != "" || me.Name() != "xu" {
		t.Errorf("GetMe = %+v (name %q)", me, me.Name())
	}
	// The object first name is shown as unknown and named; the null last name and the extra
	// field are not reported.
	if len(issues) != 1 || issues[0] != (ShapeIssue{Path: "me.first_name", Found: "object"}) {
		t.Errorf("GetMe reported %+v, want me.first_name as object only", issues)
	}
	issues = nil
	ms, err := c.GetMembership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Role != RoleAdmin || !ms.Role.Known() || ms.Status != "active" || ms.Name != "Org" {
		t.Errorf("GetMembership = %+v", ms)
	}
	if len(issues) != 0 {
		t.Errorf("documented membership shapes were reported: %+v", issues)
	}
	// It asked for the API's largest page.
	for _, r := range s.requests() {
		if r.EscapedPath == "/api/me/organizations" && !strings.Contains(r.RawQuery, "per_page=100") {
			t.Errorf("organizations request without per_page=100: %q", r.RawQuery)
		}
	}

	if ParseRole("Standard") != RoleStandard || ParseRole("owner").Known() || RoleLight.MayDeletePermanently() {
		t.Error("role parsing")
	}
}

// An identity field the check uses, in a shape no source documents, is shown as unknown and
// reported like any other decoder's (shape reporter and warning log, never the value); the
// rest of the answer still decodes.
func TestIdentityReportsUndocumentedShapes(t *testing.T) {
	t.Parallel()
	const marker = "SECRET-VALUE-42"
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/me":
			reply(w, 200, `{"data":{"id":1001,"email":["`+marker+`"],"username":7,"first_name":"Ada","last_name":true}}`)
		default:
			reply(w, 200, fmt.Sprintf(`{"data":[
				{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","name":{"x":1},"user_role":4,"user_status":"active"},
				{"id":%q,"name":"Org","user_role":{"name":"`+marker+`"},"user_status":["active"],"role":"admin"}]}`, testOrg))
		}
	})
	var logs bytes.Buffer
	c := s.client(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	var issues []ShapeIssue
	ctx := WithShapeReporter(context.Background(), func(is ShapeIssue) { issues = append(issues, is) })

	me, err := c.GetMe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != "1001" || me.Name() != "Ada" || me.Email != "" || me.Username != "" {
		t.Errorf("GetMe = %+v", me)
	}
	ms, err := c.GetMembership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A user_role in another shape is not replaced by the members endpoints' role: it is unknown.
	if ms.OrgID != testOrg || ms.Name != "Org" || ms.Role != "" || ms.Status != "" {
		t.Errorf("GetMembership = %+v", ms)
	}
	want := []ShapeIssue{
		{"me.email", "array"}, {"me.username", "number"}, {"me.last_name", "bool"},
		{"organizations[].name", "object"}, {"organizations[].user_role", "number"},
		{"organizations[].user_role", "object"}, {"organizations[].user_status", "array"},
	}
	got := map[ShapeIssue]bool{}
	for _, is := range issues {
		got[is] = true
	}
	if len(issues) != len(want) {
		t.Errorf("reported %+v, want %+v", issues, want)
	}
	l := logs.String()
	for _, w := range want {
		if !got[w] {
			t.Errorf("%s as %s was not reported (got %+v)", w.Path, w.Found, issues)
		}
		if !strings.Contains(l, "field="+w.Path+" json_type="+w.Found) {
			t.Errorf("no warning for %s as %s in %q", w.Path, w.Found, l)
		}
	}
	if strings.Contains(l, marker) {
		t.Errorf("a warning carries a value: %q", l)
	}
}

func TestIdentityMissingIDIsAnError(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/me":
			reply(w, 200, `{"data":{"email":"x@example.com"}}`)
		default:
			reply(w, 200, `{"data":[{"name":"no id","user_role":"admin"}]}`)
		}
	})
	c := s.client(t)
	var re *ResponseError
	if _, err := c.GetMe(context.Background()); !errors.As(err, &re) {
		t.Errorf("GetMe without id = %v, want a *ResponseError", err)
	}
	if _, err := c.GetMembership(context.Background()); !errors.As(err, &re) {
		t.Errorf("GetMembership without ids = %v, want a *ResponseError", err)
	}
}

func TestMembershipListLongerThanRead(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		// Every page full of other orgs, and always more to come.
		var b strings.Builder
		b.WriteString(`{"data":[`)
		for i := range 100 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%032x","name":"o","user_role":"admin"}`, i+1)
		}
		b.WriteString(`],"meta":{"pagination":{"total":5000,"count":100,"per_page":100,"current_page":` + r.URL.Query().Get("page") + `,"total_pages":50}}}`)
		reply(w, 200, b.String())
	})
	_, err := s.client(t).GetMembership(context.Background())
	var nm *NotMemberError
	if err == nil || errors.As(err, &nm) || !strings.Contains(err.Error(), "longer than this check reads") {
		t.Errorf("GetMembership over a long list = %v, want 'could not tell'", err)
	}
	if n := len(s.requests()); n != membershipMaxPages {
		t.Errorf("read %d pages, want %d", n, membershipMaxPages)
	}
}
