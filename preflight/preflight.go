// Package preflight checks, with read-only calls, that a Tallyfy token and organization work
// with this server before an agent is wired up: the token, membership of the organization and
// the role in it, one page of each listing the tools read, and the rate-limit headers. It is
// what `tallyfy-mcp check` runs.
package preflight

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Status is the outcome of one check.
type Status string

// The outcomes a check can have.
const (
	StatusOK      Status = "ok"
	StatusFail    Status = "fail"
	StatusWarn    Status = "warn"    // it works, but something must be reported or known
	StatusSkipped Status = "skipped" // not checked (an earlier check failed, or nothing to check)
)

// Check is one line of the report.
type Check struct {
	Name    string `json:"name"` // token, organization, role, tasks, runs, templates, rate_limits
	Status  Status `json:"status"`
	Message string `json:"message"`
	// Fix says what to do next; every failed check has one.
	Fix         string  `json:"fix,omitempty"`
	ShapeIssues []Shape `json:"shape_issues,omitempty"`
}

// Shape is a field the tools use that arrived in a JSON type no Tallyfy source documents.
type Shape struct {
	Field string `json:"field"` // e.g. "run.progress"
	Found string `json:"found"` // the JSON type: object, array, string, number, bool or null
}

// User is the token's user.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Organization is the checked organization as the user's membership shows it.
type Organization struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Status string `json:"status,omitempty"`
}

// ToolRule is a tool Tallyfy refuses the user's role, or allows only on some items, and why.
type ToolRule struct {
	Tool   string `json:"tool"`
	Reason string `json:"reason"`
}

// Report is everything a check found. It never holds the token, nor a base URL's credentials.
type Report struct {
	OK bool `json:"ok"`
	// Caller is the callers-file entry whose token this report checked ("" for the server's).
	Caller       string        `json:"caller,omitempty"`
	BaseURL      string        `json:"base_url"`
	OrgID        string        `json:"org_id"`
	User         *User         `json:"user,omitempty"`
	Organization *Organization `json:"organization,omitempty"`
	// Organizations are the user's organizations, listed when the organization ID is not one
	// of them.
	Organizations []Organization `json:"organizations,omitempty"`
	// PermanentDeleteAllowed says whether Tallyfy will let this user permanently delete
	// processes and templates (admins only); absent when the role is unknown.
	PermanentDeleteAllowed *bool `json:"permanent_delete_allowed,omitempty"`
	// Refused are the tools Tallyfy refuses this user's role; PerItem those it allows only on
	// items an administrator gave them access to (tallyfy.Role.May). Absent when the role is
	// unknown.
	Refused   []ToolRule         `json:"refused,omitempty"`
	PerItem   []ToolRule         `json:"per_item,omitempty"`
	RateLimit *tallyfy.RateLimit `json:"rate_limit,omitempty"`
	Checks    []Check            `json:"checks"`
	// Warnings and Live are the run's (Set), shown here when it checked this one token only.
	Warnings []string    `json:"warnings,omitempty"`
	Live     *LiveReport `json:"live,omitempty"`
}

// listingPageSize is the page read of each listing: the API's largest, so that as many items
// (and shapes) as one call allows are decoded.
const listingPageSize = 100

// Run checks the client's token and organization with GET requests only.
func Run(ctx context.Context, c *tallyfy.Client) *Report {
	rep := &Report{BaseURL: c.BaseURL(), OrgID: ShownOrgID(c.OrgID())}
	var rlMu sync.Mutex
	answers := 0
	ctx = tallyfy.WithRateLimitObserver(ctx, func(rl tallyfy.RateLimit) {
		rlMu.Lock()
		defer rlMu.Unlock()
		answers++
		if rl.IsZero() {
			return
		}
		if rep.RateLimit != nil {
			rl.RetryAfter = cmp.Or(rl.RetryAfter, rep.RateLimit.RetryAfter) // keep the last Retry-After seen
		}
		rep.RateLimit = &rl
	})

	blocked := "" // why the remaining checks cannot run
	tokenCheck, stop := checkToken(ctx, c, rep)
	rep.add(tokenCheck)
	if stop {
		blocked = "the token check failed"
		if !tokenCheck.reached() {
			blocked = "Tallyfy could not be reached"
		}
	}

	if blocked != "" {
		rep.skip("organization", blocked)
		rep.skip("role", blocked)
	} else {
		octx, shapes := watchShapes(ctx)
		orgCheck, notMember := checkOrganization(octx, c, rep)
		orgCheck = withShapes(orgCheck, shapes.list())
		rep.add(orgCheck)
		if notMember {
			blocked = "the organization check failed"
		}
		rep.add(checkRole(rep, orgCheck.ShapeIssues))
	}

	for _, l := range listings {
		if blocked != "" {
			rep.skip(l.name, blocked)
			continue
		}
		rep.add(checkListing(ctx, c, l.kind, l.name, l.label))
	}

	rlMu.Lock()
	if blocked == "Tallyfy could not be reached" {
		rep.skip("rate_limits", blocked)
	} else {
		rep.add(checkRateLimit(rep.RateLimit, answers))
	}
	rlMu.Unlock()

	rep.settle()
	return rep
}

// settle sets OK: no check failed. A warning or a check not run does not fail the report, but
// is never shown as passed.
func (r *Report) settle() {
	r.OK = !slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == StatusFail })
}

// ShownOrgID is an organization ID as it may be printed: only a well-formed one. Anything else
// may be a token given in its place (the two swapped), and is never echoed.
func ShownOrgID(id string) string {
	if id == "" || tallyfy.ValidID(id) {
		return id
	}
	return "(not shown: not an organization ID, and it may be a token)"
}

// reached reports whether a failed check's message says Tallyfy answered at all; the message
// of an unreachable Tallyfy starts with the words diagnose gives it.
func (c Check) reached() bool {
	return !strings.HasPrefix(c.Message, msgUnreachable) && !strings.HasPrefix(c.Message, msgTimeout)
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

func (r *Report) skip(name, why string) { r.add(skipped(name, why)) }

// skipped is a check not run, and why.
func skipped(name, why string) Check {
	return Check{Name: name, Status: StatusSkipped, Message: "not checked: " + why}
}

// checkToken calls GET /me. stop is true when nothing else can work (refused token, no answer).
func checkToken(ctx context.Context, c *tallyfy.Client, rep *Report) (Check, bool) {
	ctx, shapes := watchShapes(ctx)
	me, err := c.GetMe(ctx)
	if err != nil {
		msg, fix := diagnose(err, "read the token's user (GET /me)", rep.BaseURL)
		status := tallyfy.StatusOf(err)
		stop := status == http.StatusUnauthorized || status == 0 // 0: no HTTP answer at all
		return Check{Name: "token", Status: StatusFail, Message: msg, Fix: fix}, stop
	}
	rep.User = &User{ID: me.ID, Name: me.Name(), Email: me.Email}
	who := me.Name()
	if me.Email != "" && me.Email != who {
		who += " <" + me.Email + ">"
	}
	msg := fmt.Sprintf("Tallyfy accepts it: user %s (id %s)", who, me.ID)
	if who == "" { // some answers carry the id alone (tallyfy/testdata/contract/get-me.n8n.json)
		msg = "Tallyfy accepts it: user id " + me.ID
	}
	return withShapes(Check{Name: "token", Status: StatusOK, Message: msg}, shapes.list()), false
}

// checkOrganization finds the organization among the user's (GET /me/organizations).
// notMember is true when the user provably does not belong to it.
func checkOrganization(ctx context.Context, c *tallyfy.Client, rep *Report) (Check, bool) {
	ms, err := c.GetMembership(ctx)
	var nm *tallyfy.NotMemberError
	switch {
	case errors.As(err, &nm):
		for _, m := range nm.Orgs {
			rep.Organizations = append(rep.Organizations, Organization{ID: printable(m.OrgID, 64), Name: printable(m.Name, 120), Role: string(m.Role), Status: m.Status})
		}
		msg := fmt.Sprintf("the token's user is not a member of organization %s (they belong to %d other organization(s))", rep.OrgID, len(nm.Orgs))
		if names := orgNames(rep.Organizations, 20); names != "" {
			msg += ": " + names
		}
		return Check{Name: "organization", Status: StatusFail, Message: msg,
			Fix: "set TALLYFY_ORG_ID (or --org-id) to one of the IDs above (Tallyfy: Settings > Organization), or use a token of a member of this organization"}, true
	case err != nil:
		msg, fix := diagnose(err, "list the user's organizations (GET /me/organizations)", rep.BaseURL)
		return Check{Name: "organization", Status: StatusFail, Message: "membership could not be confirmed: " + msg, Fix: fix}, false
	}
	rep.Organization = &Organization{ID: ms.OrgID, Name: ms.Name, Role: string(ms.Role), Status: ms.Status}
	if ms.Status != "" && ms.Status != "active" {
		return Check{Name: "organization", Status: StatusFail,
			Message: fmt.Sprintf("the user's membership of %q is %s, not active", ms.Name, ms.Status),
			Fix:     "ask an administrator of the organization to activate your account in Tallyfy (Settings > Members), then run tallyfy-mcp check again"}, false
	}
	return Check{Name: "organization", Status: StatusOK, Message: fmt.Sprintf("member of %q (%s)", ms.Name, ms.OrgID)}, false
}

// checkRole says, for the user's role, which tools Tallyfy will refuse and which it allows only
// on some items (tallyfy.Role.May, the rules the server itself applies before asking anyone).
// orgShapes are the organization check's shape issues, where an odd role would show.
func checkRole(rep *Report, orgShapes []Shape) Check {
	if rep.Organization == nil {
		return skipped("role", "the membership could not be read")
	}
	role := tallyfy.Role(rep.Organization.Role)
	switch {
	case role.Known():
		allowed := role.MayDeletePermanently()
		rep.PermanentDeleteAllowed = &allowed
		rep.Refused, rep.PerItem = toolRules(role)
		return Check{Name: "role", Status: StatusOK, Message: roleMessage(role, rep.Refused, rep.PerItem)}
	case role == "":
		if odd := roleShapes(orgShapes); odd != "" {
			return Check{Name: "role", Status: StatusWarn,
				Message: "Tallyfy sent the role in a shape no Tallyfy source documents (" + odd + "): what your role may do is decided by Tallyfy when each change is tried",
				Fix:     shapeFix}
		}
		return Check{Name: "role", Status: StatusSkipped, Message: "not known: Tallyfy did not say which role you have, so what it may do is decided by Tallyfy when each change is tried (permanent deletes of processes and templates are for administrators)"}
	default:
		return Check{Name: "role", Status: StatusSkipped, Message: fmt.Sprintf("not known: %q is a role no Tallyfy source documents, so what it may do is decided by Tallyfy when each change is tried", printable(string(role), 40))}
	}
}

// toolRules lists, in table order, the single-item tools role is refused or allowed on some
// items only.
func toolRules(role tallyfy.Role) (refused, perItem []ToolRule) {
	for _, t := range tools.All {
		if t.Bulk || t.Tier == tools.TierRead {
			continue
		}
		switch rule := role.May(tools.OperationOf(t.Verb), t.Kind); rule.Permission {
		case tallyfy.Refused:
			refused = append(refused, ToolRule{Tool: t.Name, Reason: rule.Reason})
		case tallyfy.PerItem:
			perItem = append(perItem, ToolRule{Tool: t.Name, Reason: rule.Reason})
		}
	}
	return refused, perItem
}

// roleMessage words a role's rules: the tools refused, grouped by reason, then those allowed on
// some items only.
func roleMessage(role tallyfy.Role, refused, perItem []ToolRule) string {
	if len(refused) == 0 && len(perItem) == 0 {
		return fmt.Sprintf("%s: Tallyfy lets this user archive, restore and permanently delete one-off tasks, processes and templates", role)
	}
	var parts []string
	if len(refused) > 0 {
		parts = append(parts, "Tallyfy will refuse "+groupRules(refused)+"; the server refuses the deletes among them itself, before any preview or question, and leaves them out of tools/list")
	}
	if len(perItem) > 0 {
		parts = append(parts, "allowed only on some items: "+groupRules(perItem))
	}
	parts = append(parts, "everything else is allowed")
	return fmt.Sprintf("%s: %s", role, strings.Join(parts, "; "))
}

// groupRules words rules as "a, b (reason); c (other reason)".
func groupRules(rules []ToolRule) string {
	var order []string
	byReason := map[string][]string{}
	for _, r := range rules {
		if byReason[r.Reason] == nil {
			order = append(order, r.Reason)
		}
		byReason[r.Reason] = append(byReason[r.Reason], r.Tool)
	}
	var out []string
	for _, reason := range order {
		out = append(out, strings.Join(byReason[reason], ", ")+" ("+reason+")")
	}
	return strings.Join(out, "; ")
}

// orgNames words up to n organizations as `"Name" (id, role)`.
func orgNames(orgs []Organization, n int) string {
	var out []string
	for i, o := range orgs {
		if i == n {
			out = append(out, fmt.Sprintf("and %d more", len(orgs)-n))
			break
		}
		s := fmt.Sprintf("%q (%s", o.Name, o.ID)
		if o.Role != "" {
			s += ", " + printable(o.Role, 40)
		}
		out = append(out, s+")")
	}
	return strings.Join(out, ", ")
}

// roleShapes names the role fields among the organization check's shape issues.
func roleShapes(orgShapes []Shape) string {
	var odd []Shape
	for _, s := range orgShapes {
		if s.Field == "organizations[].user_role" || s.Field == "organizations[].role" {
			odd = append(odd, s)
		}
	}
	return shapeNames(odd)
}

// listings are the three listings the tools read: their kind, check name and words for people.
var listings = []struct {
	kind        tallyfy.Kind
	name, label string
}{
	{tallyfy.KindTask, "tasks", "one-off tasks"},
	{tallyfy.KindRun, "runs", "processes"},
	{tallyfy.KindTemplate, "templates", "templates"},
}

// checkListing reads page 1 with archived items included, then page 1 of the archived ones
// alone (an archived template is visible only there), and names every used field that
// arrived in an undocumented shape.
func checkListing(ctx context.Context, c *tallyfy.Client, kind tallyfy.Kind, name, label string) Check {
	ctx, shapes := watchShapes(ctx)
	var parts []string
	for _, mode := range []tallyfy.Archived{tallyfy.ArchivedInclude, tallyfy.ArchivedOnly} {
		p, err := c.List(ctx, kind, tallyfy.ListOptions{Archived: mode, Page: 1, PerPage: listingPageSize})
		if err != nil {
			msg, fix := diagnose(err, "list "+label, c.BaseURL())
			return Check{Name: name, Status: StatusFail, Message: fmt.Sprintf("the %s listing (archived=%s) failed: %s", label, mode, msg), Fix: fix}
		}
		what := "items (archived included)"
		if mode == tallyfy.ArchivedOnly {
			what = "archived ones"
		}
		n := len(p.Items)
		parts = append(parts, fmt.Sprintf("%d of %d %s", n, max(p.Pagination.Total, n), what))
	}
	read := "read " + strings.Join(parts, " and ")
	if odd := shapes.list(); len(odd) > 0 {
		return withShapes(Check{Name: name, Status: StatusOK, Message: read}, odd)
	}
	return Check{Name: name, Status: StatusOK, Message: read + "; every field the tools use is in a documented shape"}
}

// shapeWatch gathers the shape issues the client reports during one check (each once).
type shapeWatch struct {
	mu   sync.Mutex
	seen map[Shape]bool
}

// watchShapes returns a context whose client calls report their shape issues to the watch.
func watchShapes(ctx context.Context) (context.Context, *shapeWatch) {
	w := &shapeWatch{seen: map[Shape]bool{}}
	return tallyfy.WithShapeReporter(ctx, func(is tallyfy.ShapeIssue) {
		w.mu.Lock()
		w.seen[Shape{Field: is.Path, Found: is.Found}] = true
		w.mu.Unlock()
	}), w
}

// list returns the issues seen, sorted by field and type.
func (w *shapeWatch) list() []Shape {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.SortedFunc(maps.Keys(w.seen), func(a, b Shape) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Found, b.Found))
	})
}

// shapeNames words issues as "organizations[].user_role arrived as object; …".
func shapeNames(shapes []Shape) string {
	names := make([]string, len(shapes))
	for i, s := range shapes {
		names[i] = fmt.Sprintf("%s arrived as %s", s.Field, s.Found)
	}
	return strings.Join(names, "; ")
}

// shapeFix is what to do about a field in an undocumented shape.
const shapeFix = "report it to the tallyfy-mcp maintainers with this output (it holds no token and no field values) so the client learns the shape; until then the tools work but cannot show that field"

// withShapes turns c into a warning when a field it read arrived in an undocumented shape, and
// names each such field (path and JSON type, never the value): the tools still work but show
// that field as unknown, and the maintainers need to hear of it. A failed check stays failed,
// its own fix first.
func withShapes(c Check, shapes []Shape) Check {
	if len(shapes) == 0 {
		return c
	}
	c.ShapeIssues = shapes
	c.Message += ", but " + shapeNames(shapes) + ", a shape no Tallyfy source documents; the tools show such a field as unknown"
	if c.Status == StatusFail && c.Fix != "" {
		c.Fix += "; then " + shapeFix
	} else {
		c.Status, c.Fix = StatusWarn, shapeFix
	}
	return c
}

// checkRateLimit reports the rate-limit headers of the last answer that had any.
func checkRateLimit(rl *tallyfy.RateLimit, answers int) Check {
	if answers == 0 {
		return skipped("rate_limits", "Tallyfy gave no answer to read them from")
	}
	if rl == nil {
		return skipped("rate_limits", "Tallyfy sent no rate-limit headers to read; it documents 600 requests a minute per user and 429 with Retry-After, which the server waits out by itself")
	}
	var parts []string
	for _, h := range []struct{ name, v string }{
		{"X-RateLimit-Limit", rl.Limit}, {"X-RateLimit-Remaining", rl.Remaining},
		{"X-RateLimit-Reset", rl.Reset}, {"Retry-After", rl.RetryAfter},
	} {
		if h.v != "" {
			parts = append(parts, h.name+" "+h.v)
		}
	}
	msg := "Tallyfy sent " + strings.Join(parts, ", ")
	if rl.RetryAfter != "" {
		msg += " (it rate limited a call; the server waits such limits out by itself)"
	}
	return Check{Name: "rate_limits", Status: StatusOK, Message: msg}
}

// The first words of a failure with no answer from Tallyfy (Check.reached reads them).
const (
	msgTimeout     = "Tallyfy did not answer in time"
	msgUnreachable = "could not reach Tallyfy"
)

// diagnose words an error as what happened and what to do next. Nothing in it comes from the
// token; Tallyfy's own message is cut short and kept printable.
func diagnose(err error, doing, baseURL string) (msg, fix string) {
	var (
		ae *tallyfy.APIError
		te *tallyfy.TransportError
		re *tallyfy.ResponseError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return msgTimeout, "check the network and TALLYFY_BASE_URL (" + baseURL + "), then run tallyfy-mcp check again"
	case errors.Is(err, context.Canceled):
		return "the check was interrupted", "run tallyfy-mcp check again"
	case errors.As(err, &te):
		return fmt.Sprintf("%s at %s (%s)", msgUnreachable, baseURL, printable(te.Err.Error(), 200)),
			"check the network and TALLYFY_BASE_URL (or --base-url; Tallyfy's is " + tallyfy.DefaultBaseURL + "), then run tallyfy-mcp check again"
	case errors.As(err, &re):
		return fmt.Sprintf("Tallyfy answered %d but the body could not be read (%s)%s", re.Status, printable(re.Reason, 200), requestRef(re.RequestID)),
			"check that TALLYFY_BASE_URL (" + baseURL + ") is Tallyfy's API and not a web page or proxy; if it is, report this output to the tallyfy-mcp maintainers"
	case !errors.As(err, &ae):
		return printable(strings.TrimPrefix(err.Error(), "tallyfy: "), 300), "report this output to the tallyfy-mcp maintainers"
	}
	ref := requestRef(ae.RequestID)
	tallyfyMsg := printable(ae.Message, 200)
	switch {
	case ae.Status == http.StatusUnauthorized:
		return "Tallyfy refused the token (401 Unauthorized): it is wrong, expired or was revoked" + ref,
			"make a new personal access token in Tallyfy under Settings > Integrations > REST API (tokens expire after 6 months and when their user logs out of Tallyfy), set TALLYFY_ACCESS_TOKEN (or --token-file) to it and run tallyfy-mcp check again"
	case ae.Status == http.StatusForbidden:
		return fmt.Sprintf("Tallyfy refused to %s (403 Forbidden: %s)%s", doing, tallyfyMsg, ref),
			"check that TALLYFY_ORG_ID is your organization (Tallyfy: Settings > Organization) and ask a Tallyfy administrator for access"
	case ae.Status == http.StatusNotFound && ae.Code == "ENDPOINT_NOT_FOUND":
		return fmt.Sprintf("Tallyfy does not know this endpoint (404 ENDPOINT_NOT_FOUND)%s", ref),
			"set TALLYFY_BASE_URL (or --base-url) to " + tallyfy.DefaultBaseURL + " or https://api.tallyfy.com"
	case ae.Status == http.StatusTooManyRequests:
		wait := "a minute"
		if ae.RetryAfter > 0 {
			wait = fmt.Sprintf("%d s", int(ae.RetryAfter.Seconds()+0.5))
		}
		return "Tallyfy is rate limiting this token (429)" + ref, "wait " + wait + " and run tallyfy-mcp check again"
	case ae.Status >= 500:
		return fmt.Sprintf("Tallyfy had a server error (%d %s)%s", ae.Status, http.StatusText(ae.Status), ref),
			"run tallyfy-mcp check again in a moment; if it persists, contact Tallyfy support with the request id"
	default:
		return fmt.Sprintf("Tallyfy refused to %s (%d: %s)%s", doing, ae.Status, tallyfyMsg, ref),
			"report this output to the tallyfy-mcp maintainers"
	}
}

func requestRef(id string) string {
	if id == "" {
		return ""
	}
	return " [Tallyfy request id " + printable(id, 80) + "]"
}

// printable drops control characters (a terminal must not run escapes from Tallyfy's bodies)
// and cuts s to n bytes.
func printable(s string, n int) string {
	return tallyfy.Truncate(strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s), n)
}

// label is how a check is named on a text line.
var label = map[string]string{
	"token": "token", "organization": "organization", "role": "role",
	"tasks": "one-off tasks", "runs": "processes", "templates": "templates", "rate_limits": "rate limits",
}

// mark is a check's sign on a text line: ✓ passed, ✗ failed, ⚠ works but must be reported or
// known, – not checked.
var mark = map[Status]string{StatusOK: "✓", StatusFail: "✗", StatusWarn: "⚠", StatusSkipped: "–"}

// Set is what one `tallyfy-mcp check` run found: one report per token checked (the server's,
// then each caller's of a callers file), and warnings about the configuration itself.
type Set struct {
	OK bool `json:"ok"`
	// Warnings are about what was not checked, e.g. settings --sandbox ignores.
	Warnings []string  `json:"warnings,omitempty"`
	Reports  []*Report `json:"reports"`
	// Live is what `check --live` observed, when it ran.
	Live *LiveReport `json:"live,omitempty"`
}

// Settle sets the set's OK: every report passed, and the live run did not fail.
func (s *Set) Settle() {
	failed := func(r *Report) bool { return !r.OK }
	s.OK = len(s.Reports) > 0 && !slices.ContainsFunc(s.Reports, failed) && (s.Live == nil || s.Live.OK)
}

// WriteText writes each report as a block (named by caller when there are callers), then the
// live table if any, then one summary line.
func (s *Set) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, warn := range s.Warnings {
		fmt.Fprintf(&b, "⚠ %s\n", printable(warn, 1000))
	}
	count := map[Status]int{} // checks by status, over every block
	for i, r := range s.Reports {
		if i > 0 {
			b.WriteString("\n")
		}
		r.writeBlock(&b, count)
	}
	if s.Live != nil {
		b.WriteString("\n")
		s.Live.writeTable(&b)
		if !s.Live.OK {
			count[StatusFail]++
		}
	}
	switch {
	case count[StatusFail] > 0:
		fmt.Fprintf(&b, "%d check(s) failed: fix the ✗ lines above, then run tallyfy-mcp check again.\n", count[StatusFail])
	case count[StatusWarn] > 0:
		fmt.Fprintf(&b, "Ready for an agent, with %d warning(s): report each ⚠ line to the tallyfy-mcp maintainers with this output (it holds no token and no field values).\n", count[StatusWarn])
	case count[StatusSkipped] > 0:
		fmt.Fprintf(&b, "No check failed, but %d were not checked (– lines): nothing is known of those.\n", count[StatusSkipped])
	case len(s.Warnings) > 0:
		b.WriteString("No check failed, but the ⚠ lines above say what was not checked.\n")
	default:
		b.WriteString("All checks passed: this token and organization are ready for an agent.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBlock writes the report's header and one line per check, each ✗ with what to do next,
// and counts the checks by status.
func (r *Report) writeBlock(b *strings.Builder, count map[Status]int) {
	who := ""
	if r.Caller != "" {
		who = fmt.Sprintf("caller %q: ", r.Caller)
	}
	fmt.Fprintf(b, "tallyfy-mcp check: %s%s, organization %s (read-only: GET requests only)\n", who, r.BaseURL, cmp.Or(r.OrgID, "(none set)"))
	for _, c := range r.Checks {
		count[c.Status]++
		// One line per check, whatever Tallyfy put in a name or message.
		fmt.Fprintf(b, "%s %s: %s", mark[c.Status], cmp.Or(label[c.Name], c.Name), printable(c.Message, 2000))
		if c.Fix != "" {
			fmt.Fprintf(b, ". Next: %s", printable(c.Fix, 1000))
		}
		b.WriteString("\n")
	}
}

// WriteJSON writes the set as one JSON object: with one token checked (no callers file), that
// token's report with the run's warnings and live table in it; else {ok, warnings, reports,
// live}, one report per token, each named by its caller.
func (s *Set) WriteJSON(w io.Writer) error {
	if len(s.Reports) == 1 && s.Reports[0].Caller == "" {
		r := *s.Reports[0]
		r.OK, r.Warnings, r.Live = s.OK, s.Warnings, s.Live
		return writeJSON(w, &r)
	}
	return writeJSON(w, s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
