package tallyfy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// Who is calling: the token's user, its role in the organization, and the rate-limit headers
// Tallyfy sends. Sources (no live check yet; the answers each one shows are in the contract
// corpus, tallyfy/testdata/contract, get-me.* and list-my-organizations.*):
//   - GET /me: Tallyfy's CLI (`whoami`, `internal/auth/validate.go`, `pkg/tallyfy` type Me with a
//     json.Number id) and its n8n node's credential test use it to check a token; the node
//     reads only data.id, a string in its tests.
//   - GET /me/organizations: the Power Platform connector's Tallyfy swagger (operation
//     Get_User_Organizations: each item's id, name, user_role, user_status); Tallyfy's MCP server
//     pages through it (per_page 100) to prove membership and fails closed when it cannot
//     (server/tools/org_context.py).
//   - Roles admin|standard|light, compared case-insensitively; permanent deletes of runs and
//     templates need admin (docs, member pages and the delete endpoints).
//   - 429 with Retry-After, and X-RateLimit-Remaining (docs, Postman troubleshooting page).

// Me is the user behind the token (GET /me).
type Me struct {
	// ID is the user's id: an integer in Tallyfy's CLI, a string in its n8n node's tests; it is
	// kept as text so both decode.
	ID        string
	Email     string
	Username  string
	FirstName string
	LastName  string
	issues    []ShapeIssue
}

func (m *Me) shapeIssues() []ShapeIssue          { return m.issues }
func (ms *Membership) shapeIssues() []ShapeIssue { return ms.issues }

// Name is "First Last", else the username, else the email.
func (m *Me) Name() string {
	return cmp.Or(strings.TrimSpace(m.FirstName+" "+m.LastName), m.Username, m.Email)
}

// meWire is the raw form of Me: the fields the check uses (tallyfy/testdata/contract,
// get-me.*). Every other field is skipped whatever its shape.
type meWire struct {
	ID        json.RawMessage `json:"id"`
	Email     json.RawMessage `json:"email"`
	Username  json.RawMessage `json:"username"`
	FirstName json.RawMessage `json:"first_name"`
	LastName  json.RawMessage `json:"last_name"`
}

// decode reads a user as the other decoders read items (decode.go): a used field in an
// undocumented shape is left empty and recorded; only a missing id is an error.
func (w *meWire) decode() (Me, error) {
	var m Me
	var err error
	if m.ID, err = textID(w.ID, "the user"); err != nil {
		return m, err
	}
	var f fields
	m.Email = strings.TrimSpace(f.str("email", w.Email))
	m.Username = strings.TrimSpace(f.str("username", w.Username))
	m.FirstName = strings.TrimSpace(f.str("first_name", w.FirstName))
	m.LastName = strings.TrimSpace(f.str("last_name", w.LastName))
	m.issues = f.issues
	return m, nil
}

// Role is a member's role in an organization, lower-cased: "admin", "standard", "light", or
// whatever other value Tallyfy sent.
type Role string

// The roles Tallyfy documents.
const (
	RoleAdmin    Role = "admin"
	RoleStandard Role = "standard"
	RoleLight    Role = "light"
)

// ParseRole normalizes a role as Tallyfy spells it ("Admin", "admin", " STANDARD ").
func ParseRole(s string) Role { return Role(strings.ToLower(strings.TrimSpace(s))) }

// Known reports whether the role is one of the three documented roles.
func (r Role) Known() bool { return r == RoleAdmin || r == RoleStandard || r == RoleLight }

// MayDeletePermanently reports whether Tallyfy lets this role permanently delete processes and
// templates (admin only). Tallyfy's own 403 stays the final word.
func (r Role) MayDeletePermanently() bool { return r == RoleAdmin }

// Operation is a change a role may be refused: archive, restore or permanent delete.
type Operation string

// The operations the tools perform.
const (
	OpArchive Operation = "archive"
	OpRestore Operation = "restore"
	OpDelete  Operation = "delete"
)

// Permission is what Tallyfy lets a role do to one kind of item.
type Permission int

const (
	// Allowed means no source says this role is refused (Tallyfy's answer stays the final word).
	Allowed Permission = iota
	// PerItem means allowed only on the items an administrator gave the member access to.
	PerItem
	// Refused means the sources say Tallyfy refuses this role (403).
	Refused
)

// Rule is what the sources say of one role, operation and kind, with the reason in words.
type Rule struct {
	Permission Permission
	Reason     string // empty when Allowed
}

// The reasons, each from Tallyfy's docs (docs/tallyfy-api.md §8 "Who may do what"):
//   - permanent deletes of processes and templates are for administrators
//     (cs/processes/delete-process, cs/templates/delete-archive-template,
//     members/standard-admin-members: Standard members cannot "delete archived templates");
//   - Light members cannot archive or unarchive processes: "the server returns a permission
//     error" (tracker-view/organize-processes/how-to-archive-and-unarchive-processes-in-tallyfy);
//   - Light members cannot create, edit or organize templates (members/light-members,
//     members/index); archiving a template is a template edit (documenting/templates/config);
//   - Standard members edit only the templates an administrator gave them EDIT permission on
//     (members/how-do-i-manage-member-permissions-in-tallyfy).
//
// No source restricts one-off tasks by role: their archive, restore and permanent delete are
// left to Tallyfy for every role.
const (
	reasonAdminDelete   = "permanent deletes of processes and templates are for Tallyfy administrators"
	reasonLightRuns     = "Light members cannot archive or unarchive processes"
	reasonLightTemplate = "Light members cannot change templates"
	reasonStandardEdit  = "Standard members change only the templates an administrator gave them edit access to"
)

// May says what Tallyfy lets role r do: Allowed for an unknown or undocumented role (Tallyfy
// decides when it is tried).
func (r Role) May(op Operation, kind Kind) Rule {
	switch {
	case r == RoleAdmin || !r.Known() || kind == KindTask:
		return Rule{}
	case op == OpDelete:
		return Rule{Refused, reasonAdminDelete}
	case r == RoleLight && kind == KindRun:
		return Rule{Refused, reasonLightRuns}
	case r == RoleLight && kind == KindTemplate:
		return Rule{Refused, reasonLightTemplate}
	case r == RoleStandard && kind == KindTemplate:
		return Rule{PerItem, reasonStandardEdit}
	}
	return Rule{}
}

// Membership is one organization the user belongs to, as GET /me/organizations lists it.
type Membership struct {
	OrgID  string
	Name   string
	Role   Role
	Status string // user_status, e.g. "active"
	issues []ShapeIssue
}

// membershipWire is the raw form of Membership (tallyfy/testdata/contract,
// list-my-organizations.*).
type membershipWire struct {
	ID         json.RawMessage `json:"id"`
	Name       json.RawMessage `json:"name"`
	UserRole   json.RawMessage `json:"user_role"`
	Role       json.RawMessage `json:"role"` // the members endpoints' spelling
	UserStatus json.RawMessage `json:"user_status"`
}

// decode reads id, name, user_role and user_status. A role or status in an undocumented shape
// is left unknown and recorded, so that the check names the field rather than only saying
// that Tallyfy did not tell the role; only a missing id is an error.
func (w *membershipWire) decode() (Membership, error) {
	var ms Membership
	var err error
	if ms.OrgID, err = textID(w.ID, "an organization"); err != nil {
		return ms, err
	}
	var f fields
	ms.Name = strings.TrimSpace(f.str("name", w.Name))
	role := f.str("user_role", w.UserRole)
	if t := jsonType(w.UserRole); t == "absent" || t == "null" {
		role = f.str("role", w.Role) // the members endpoints' spelling
	}
	ms.Role = ParseRole(role)
	ms.Status = strings.ToLower(strings.TrimSpace(f.str("user_status", w.UserStatus)))
	ms.issues = f.issues
	return ms, nil
}

// textID reads the id of, which sources show as a string or an integer; anything else, or an
// empty one, is the missing identity that fails a decode.
func textID(raw json.RawMessage, of string) (string, error) {
	switch t := jsonType(raw); t {
	case "string":
		if s, _ := unquote(raw); strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s), nil
		}
	case "number":
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String(), nil
		}
	case "absent", "null":
	default:
		return "", &identityError{Of: of, Field: "id", Found: t}
	}
	return "", &identityError{Of: of, Field: "id", Found: "absent"}
}

// GetMe returns the user behind the token (GET /me). A 401 means the token is wrong, expired
// or revoked (personal access tokens are deleted when their user logs out of Tallyfy).
func (c *Client) GetMe(ctx context.Context) (*Me, error) {
	const p = "/me"
	r, err := c.do(ctx, http.MethodGet, p, nil, retrySafe)
	if err != nil {
		return nil, err
	}
	return decodeOne[Me, meWire](ctx, c, "me.", http.MethodGet, p, r)
}

// NotMemberError says the user's organization list was read to the end without the client's
// organization in it: the token belongs to someone outside that organization.
type NotMemberError struct {
	OrgID string
	// Orgs are the organizations the user does belong to, so that a wrong org id can be
	// answered with the right one.
	Orgs []Membership
}

func (e *NotMemberError) Error() string {
	return fmt.Sprintf("tallyfy: the token's user is not a member of organization %s (member of %d other organization(s))", e.OrgID, len(e.Orgs))
}

// membershipMaxPages bounds the walk through /me/organizations (100 a page), as Tallyfy's MCP
// server does; past it the answer is "could not tell", never "not a member".
const membershipMaxPages = 10

// GetMembership finds the client's organization among the user's organizations
// (GET /me/organizations, 100 a page, the API's maximum) and returns the user's role there.
// It fails closed: a *NotMemberError when the whole list was read without it, another error
// when the list could not be read to the end.
func (c *Client) GetMembership(ctx context.Context) (*Membership, error) {
	const p = "/me/organizations"
	var orgs []Membership
	for page := 1; page <= membershipMaxPages; page++ {
		r, err := c.do(ctx, http.MethodGet, p, url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(maxPerPage)}}, retrySafe)
		if err != nil {
			return nil, err
		}
		pg, err := decodePage[Membership, membershipWire](r, p, page, maxPerPage)
		if err != nil {
			return nil, err
		}
		reportItems(ctx, c, "organizations[].", pg.Items) // as the check prints them: organizations[].user_role
		for i := range pg.Items {
			if pg.Items[i].OrgID == c.cfg.OrgID {
				return &pg.Items[i], nil
			}
		}
		orgs = append(orgs, pg.Items...)
		// Some lists ignore per_page, so a short page is not proof of the end: the total and
		// the items seen say, and an empty page (Page.Ends).
		if pg.Ends(len(orgs)) {
			return nil, &NotMemberError{OrgID: c.cfg.OrgID, Orgs: orgs}
		}
	}
	return nil, fmt.Errorf("tallyfy: organization %s is not among the first %d of the user's organizations; the list is longer than this check reads", c.cfg.OrgID, len(orgs))
}

// RateLimit is the rate-limit headers of one response, as sent (each cut to 64 printable
// characters). Empty fields were absent.
type RateLimit struct {
	Limit      string `json:"limit,omitempty"`       // X-RateLimit-Limit
	Remaining  string `json:"remaining,omitempty"`   // X-RateLimit-Remaining
	Reset      string `json:"reset,omitempty"`       // X-RateLimit-Reset
	RetryAfter string `json:"retry_after,omitempty"` // Retry-After (seconds or an HTTP date)
}

// IsZero reports whether none of the headers was present.
func (r RateLimit) IsZero() bool { return r == RateLimit{} }

// RateLimitOf reads the rate-limit headers of a response.
func RateLimitOf(h http.Header) RateLimit {
	return RateLimit{
		Limit:      headerText(h.Get("X-RateLimit-Limit")),
		Remaining:  headerText(h.Get("X-RateLimit-Remaining")),
		Reset:      headerText(h.Get("X-RateLimit-Reset")),
		RetryAfter: headerText(h.Get("Retry-After")),
	}
}

// headerText keeps a header value safe to print on a terminal or in a log.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
	return Truncate(s, 64)
}

type rateLimitObserverKey struct{}

// WithRateLimitObserver returns a context whose client calls tell fn the rate-limit headers of
// every HTTP answer (2xx or not, retries included); a zero RateLimit when it carried none.
func WithRateLimitObserver(ctx context.Context, fn func(RateLimit)) context.Context {
	return context.WithValue(ctx, rateLimitObserverKey{}, fn)
}

// observeRateLimit passes an answer's rate-limit headers to the context's observer, if any.
func observeRateLimit(ctx context.Context, rl RateLimit) {
	if fn, _ := ctx.Value(rateLimitObserverKey{}).(func(RateLimit)); fn != nil {
		fn(rl)
	}
}
