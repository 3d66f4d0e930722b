package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// tokenHelp says where a Tallyfy user makes a new personal access token (docs/tallyfy-api.md §3).
const tokenHelp = "Make a new personal access token in Tallyfy under Settings > Integrations > REST API (tokens expire after 6 months and when you log out of Tallyfy), then update TALLYFY_ACCESS_TOKEN (or --token-file) and restart the server."

func invalidArgument(name, why string) *mcp.CallToolResult {
	if !strings.HasSuffix(why, ".") {
		why += "."
	}
	return mcp.NewToolResultError(fmt.Sprintf("Invalid argument %s: %s Nothing was changed.", name, why))
}

// argumentError words an argument decoding error (reached only when the server does not
// validate the input schema first) without Go type names.
func argumentError(err error) *mcp.CallToolResult {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		want := "a string"
		switch te.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			want = "a whole number"
		case reflect.Bool:
			want = "true or false"
		}
		return invalidArgument(te.Field, fmt.Sprintf("must be %s, not a %s", want, te.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalidArgument(strings.Trim(name, `"`), "is not an argument of this tool")
	}
	return invalidArgument("arguments", "must be a JSON object of the documented arguments")
}

// explain words an error from Tallyfy so that it tells the agent what to do next. Messages
// carry Tallyfy's request id where there is one, never a token or a raw body.
func explain(c *call, err error) string {
	r := c.kind
	listTool := toolFor(r.Kind, VerbList).Name
	nothing := ""
	if c.tool.Tier != TierRead {
		nothing = " Nothing was changed."
	}
	var (
		ae *tallyfy.APIError
		te *tallyfy.TransportError
		re *tallyfy.ResponseError
		se *tallyfy.ArchivedSearchError
	)
	switch {
	case errors.As(err, new(*tallyfy.InvalidIDError)):
		return fmt.Sprintf("Invalid argument %s: %v. Find the ID with %s.", r.idArg, err, listTool)
	case errors.Is(err, context.Canceled):
		return "The call was cancelled before Tallyfy answered." + nothing
	case errors.Is(err, context.DeadlineExceeded):
		return "The call ran out of time before Tallyfy answered. Try again; if it keeps happening Tallyfy may be slow or unreachable." + nothing
	case errors.As(err, &te):
		return fmt.Sprintf("Could not reach Tallyfy (%v). Check the network and TALLYFY_BASE_URL, then try again.%s", te.Err, nothing)
	case errors.As(err, &se):
		return archivedSearchText(c, se) + nothing
	case errors.As(err, &re):
		return fmt.Sprintf("Tallyfy answered %d but the body was unusable (%s)%s. Nothing was assumed from it; try again, and check the state with %s.",
			re.Status, re.Reason, requestRef(re.RequestID), toolFor(r.Kind, VerbGet).Name)
	case !errors.As(err, &ae):
		return fmt.Sprintf("Unexpected error: %v.%s", err, nothing)
	}
	ref := requestRef(ae.RequestID)
	switch {
	case ae.Status == http.StatusUnauthorized:
		return "Tallyfy rejected the access token (401 Unauthorized): it is invalid, expired or was revoked." + ref + " " + tokenHelp
	case ae.Status == http.StatusForbidden && c.tool.Tier == TierPermanent:
		return fmt.Sprintf("Tallyfy refused (403 Forbidden): %s%s. %s%s", ae.Message, ref, forbiddenDelete(c), nothing)
	case ae.Status == http.StatusForbidden:
		return fmt.Sprintf("Tallyfy refused (403 Forbidden): %s%s. The Tallyfy user behind the token lacks permission for this %s, or TALLYFY_ORG_ID is another organization.%s",
			ae.Message, ref, r.noun, nothing)
	case ae.Status == http.StatusNotFound && ae.Code == "ENDPOINT_NOT_FOUND":
		// A change's route comes after its item was read through another (lifecycle.go).
		return routeUnknown(ae, c.tool.Tier != TierRead && ae.Method != http.MethodGet) + nothing
	case ae.Status == http.StatusNotFound:
		return fmt.Sprintf("Tallyfy finds no %s with ID %s, archived or not (GET answers 404 and the archived listing does not show it)%s: the ID may be wrong or of another kind, or the item is gone. Find it with %s (archived: include).%s",
			r.noun, c.id, ref, listTool, nothing)
	case ae.Status == http.StatusUnprocessableEntity && c.tool.Verb == VerbDelete:
		return fmt.Sprintf("Tallyfy refused the delete (422): %s%s. If the %s is not archived, archive it with %s first.%s",
			ae.Message, ref, r.noun, toolFor(r.Kind, VerbArchive).Name, nothing)
	case ae.Status == http.StatusTooManyRequests:
		wait := "a few seconds"
		if ae.RetryAfter > 0 {
			wait = fmt.Sprintf("%d s", int(ae.RetryAfter.Seconds()+0.5))
		}
		return fmt.Sprintf("Tallyfy is rate limiting this token (429)%s. Retry after %s.%s", ref, wait, nothing)
	case ae.Status >= 500:
		return fmt.Sprintf("Tallyfy had a server error (%d %s)%s. Try again in a moment; if it persists, contact Tallyfy support with the request id.%s",
			ae.Status, http.StatusText(ae.Status), ref, nothing)
	default:
		msg, code := ae.Message, ""
		if len(ae.Fields) > 0 {
			msg += " (" + ae.FieldSummary() + ")"
		}
		if ae.Code != "" {
			code = " " + ae.Code
		}
		return fmt.Sprintf("Tallyfy refused the request (%d%s): %s%s.%s", ae.Status, code, msg, ref, nothing)
	}
}

// archivedSearchText words a look-up that the bounded archived search could not settle
// (tallyfy.ArchivedSearchError): a clear not-found that says how far it looked, never "gone".
func archivedSearchText(c *call, se *tallyfy.ArchivedSearchError) string {
	r := c.kind
	listTool := toolFor(r.Kind, VerbList).Name
	if se.Exists {
		return fmt.Sprintf("Could not tell whether %s %s is archived: Tallyfy's answer did not say, and it is %s. Check it in Tallyfy's web app.",
			r.noun, se.ID, se.Summary())
	}
	maybe := "archived longer ago than this search reaches, permanently deleted, or an ID of another kind"
	if r.Kind == tallyfy.KindTask {
		maybe = "archived longer ago than this search reaches, a task of an archived process (archived with it: find the process with list_runs, archived: only), permanently deleted, or an ID of another kind"
	}
	return fmt.Sprintf("No %s with ID %s was found: Tallyfy answered 404 to reading it, and it is %s. It may be %s. Find it by name with %s (archived: only, query) or in Tallyfy's web app; the server's operator can search further back with --archived-search-pages.",
		r.noun, se.ID, se.Summary(), maybe, listTool)
}

func requestRef(id string) string {
	if id == "" {
		return ""
	}
	return " [Tallyfy request id " + id + "]"
}

// describe is a short form of an error for messages that wrap it.
func describe(err error) string {
	if se, ok := errors.AsType[*tallyfy.ArchivedSearchError](err); ok {
		if se.Exists {
			return "archived or live unknown: Tallyfy did not say, and it is " + se.Summary()
		}
		return "not found: Tallyfy answered 404, and it is " + se.Summary()
	}
	if ae, ok := errors.AsType[*tallyfy.APIError](err); ok {
		return fmt.Sprintf("%d %s%s", ae.Status, http.StatusText(ae.Status), requestRef(ae.RequestID))
	}
	if te, ok := errors.AsType[*tallyfy.TransportError](err); ok {
		return te.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "tallyfy: ")
}
