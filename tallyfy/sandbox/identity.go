package sandbox

import (
	"net/http"
	"sync"
	"time"
)

// ---------------------------------------------------------------------------
// Who is calling: GET /me and GET /me/organizations.
//
// Sources (each answer is in the contract corpus, tallyfy/testdata/contract, get-me.* and
// list-my-organizations.*; sandbox/drift_test.go fails if these answers leave it): GET /me is
// what Tallyfy's CLI (`whoami`, internal/auth/validate.go; its Me type has id, email, username,
// first_name, last_name, timezone) and its n8n node's credential test call to check a token.
// GET /me/organizations is operation Get_User_Organizations of the Power Platform connector's
// Tallyfy swagger (microsoft/PowerPlatformConnectors,
// certified-connectors/Tallyfy/apiDefinition.swagger.json): a paged list whose items carry id,
// name, slug, users_count, user_status, joined_on, disabled_on, last_accessed and user_role.
// INFERENCE: roles are spelled capitalized ("Admin", "Standard") as on the members endpoints,
// so clients must compare them case-insensitively; no source shows the value on this list.

// The organization GET /me/organizations names besides OrgID, and the sandbox org's name.
const (
	OrgName      = "Sandbox Co"
	otherOrgID   = "5f0c3c1e2a4b4d6f8e9a0b1c2d3e4f50" // a second org both users belong to
	otherOrgName = "Sandbox Holdings"
)

// role is a member's role, spelled as the members endpoints spell it (see above).
type role string

const (
	roleAdmin  role = "Admin"
	roleMember role = "Standard"
	roleLight  role = "Light" // roles.go
)

type sandboxUser struct {
	id                           int
	email, username, first, last string
	role                         role
}

var (
	adminUser  = sandboxUser{userAdmin, "avery.admin@sandbox.example", "avery", "Avery", "Admin", roleAdmin}
	memberUser = sandboxUser{userMember, "morgan.member@sandbox.example", "morgan", "Morgan", "Member", roleMember}
	lightUser  = sandboxUser{userLight, "lee.light@sandbox.example", "lee", "Lee", "Light", roleLight}
)

type userKey struct{}

// userFor is the user whose token the request carries (ServeHTTP puts it in the context).
func userFor(r *http.Request) sandboxUser {
	u, _ := r.Context().Value(userKey{}).(sandboxUser)
	return u
}

func (s *Sandbox) getMe(r *http.Request, _ string) response {
	u := userFor(r)
	return itemAnswer(map[string]any{
		"id": u.id, "email": u.email, "username": u.username, "first_name": u.first, "last_name": u.last,
		"timezone": "Europe/London",
	})
}

func (s *Sandbox) listMyOrganizations(r *http.Request, _ string) response {
	u := userFor(r)
	org := func(id, name string, ro role, users int) map[string]any {
		return map[string]any{
			"id": id, "name": name, "description": nil, "industry": "Software",
			"created_on": "2025-02-14T10:00:00.000Z", "last_updated": "2026-04-02T16:20:00.000Z", "live_support_enabled": 0,
			"users_count": users, "payment_state": "paid", "user_status": "active", "joined_on": "2025-03-01T09:00:00.000Z",
			"disabled_on": nil, "last_accessed": "2026-05-30T08:15:00.000Z", "user_role": ro,
		}
	}
	// The sandbox org comes second, so a client that reads only the first item is caught.
	items := []any{org(otherOrgID, otherOrgName, roleLight, 3), org(OrgID, OrgName, u.role, 4)}
	return s.listPage(r, kindOrganization, items)
}

// ---------------------------------------------------------------------------
// Rate-limit headers. The docs' troubleshooting page gives 600 requests a minute per user on a
// rolling window and names X-RateLimit-Remaining and Retry-After. The sandbox sends only
// X-RateLimit-Remaining, the header a source names (issue 18 point 11: no source documents
// X-RateLimit-Limit). INFERENCE: it counts in fixed one-minute windows and never refuses for it (429s
// come from faults, or from the per-token limit of WithRateLimit, whose headers replace these:
// rate_limiter.go).

const rateLimitPerMinute = 600

type rateWindow struct {
	mu    sync.Mutex
	start time.Time
	used  int
}

// take counts one request and returns what is left of the window.
func (w *rateWindow) take(now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= time.Minute || now.Before(w.start) {
		w.start, w.used = now, 0
	}
	w.used++
	return max(rateLimitPerMinute-w.used, 0)
}

// ---------------------------------------------------------------------------
// Which sandbox answered. Tallyfy sends no such header: `tallyfy-mcp check --live` reads it to
// print the sandbox variants it met (preflight.SandboxVariantsHeader).

// VariantsHeader names the sandbox's variants on every answer ("default": none; SetVariants).
const VariantsHeader = "X-Tallyfy-Mcp-Sandbox-Variants"
