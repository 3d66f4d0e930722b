package sandbox

import (
	"net/http"
	"strings"
)

// ---------------------------------------------------------------------------
// Who may do what: the one place the sandbox refuses a change for the caller's role.
//
// Sources (docs/tallyfy-api.md §8 "Who may do what"; tallyfy.Role.May holds the same rules for
// the server and `tallyfy-mcp check`):
//   - permanent deletes of processes and templates are for administrators (docs
//     cs/processes/delete-process, cs/templates/delete-archive-template; members/
//     standard-admin-members: Standard members cannot "delete archived templates");
//   - Light members cannot archive or unarchive processes, "the server returns a permission
//     error" (docs tracker-view/organize-processes/how-to-archive-and-unarchive-processes);
//   - Light members cannot create or edit templates (docs members/light-members,
//     members/index); archiving a template is done from its settings, a template edit
//     (docs documenting/templates/config). INFERENCE: restoring one is refused alike;
//   - Standard members change only templates an administrator gave them EDIT permission on
//     (docs members/how-do-i-manage-member-permissions-in-tallyfy). The sandbox's Standard
//     member has no rights on IDs.RestrictedTemplate;
//   - no source restricts one-off tasks by role (cs/tasks/delete-task says neither "admin"
//     nor "archived first"): every role may archive, restore and permanently delete them.
//     INFERENCE, until a live check says otherwise.
//
// The 403 bodies are not documented: INFERENCE, the general error shape with FORBIDDEN.

// LightToken is the sandbox's Light member (Lee Light).
const LightToken = "sandbox-light-token"

// roleRefusal is the 403 Tallyfy gives the caller's role for this change, if any.
func roleRefusal(r *http.Request, rt route) (response, bool) {
	ro := userFor(r).role
	if ro == roleAdmin || rt.method == http.MethodGet || rt.kind == kindTask {
		return response{}, false
	}
	switch {
	case rt.method == http.MethodDelete && strings.HasSuffix(rt.path, "/delete"):
		return errorResponse(adminOnlyStatusCode, adminOnlyMessage(rt.kind), forbiddenCode), true
	case ro == roleLight && rt.kind == kindRun:
		return errorResponse(http.StatusForbidden, "Light members cannot archive or unarchive processes.", forbiddenCode), true
	case ro == roleLight && rt.kind == kindTemplate:
		return errorResponse(http.StatusForbidden, "Light members cannot edit templates.", forbiddenCode), true
	case ro == roleMember && rt.kind == kindTemplate && r.PathValue("id") == IDs.RestrictedTemplate:
		return errorResponse(http.StatusForbidden, "You don't have permission to edit this template.", forbiddenCode), true
	}
	return response{}, false
}
