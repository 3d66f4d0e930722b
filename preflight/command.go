package preflight

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// Setup is the server's configuration as the check uses it, parsed from the flags the check
// does not read itself (ParseSetup; the server package has the parser).
type Setup struct {
	// Warnings name what --sandbox ignores, so that it is never taken as checked.
	Warnings []string
	// Deadline is --tool-timeout: the whole check's (0: none).
	Deadline time.Duration
	// BaseURL and OrgID as configured, for the report of a configuration that makes no client.
	BaseURL, OrgID string
	// Open builds the Tallyfy clients the server would use, every one sending through hc.
	// Close the targets it returns even when it fails.
	Open func(hc *http.Client) (*Targets, error)
}

// Targets are the tokens a check runs against.
type Targets struct {
	// Own is the server's own token's client (or the sandbox's); nil when a callers file alone
	// names the tokens.
	Own *tallyfy.Client
	// Callers are the callers file's entries, each with their own client.
	Callers []tools.Caller
	// Close releases what Open started (the sandbox).
	Close func() error
}

// ParseSetup parses the server's flags for the check.
type ParseSetup func(args []string) (*Setup, error)

// Command is the `check` subcommand: it checks the configured token and organization (and,
// with a callers file, each caller's) with GET requests only and prints one block of ✓/✗/⚠/–
// lines per token (or, with --json, one JSON object) on stdout. With --live it also creates,
// exercises and deletes one throwaway one-off task (live.go), after the person agrees (a
// terminal) or with --yes. It returns the exit status: 0 when no check failed, 1 when one
// did, 2 for bad flags or a --live that was not agreed to.
func Command(ctx context.Context, args []string, parse ParseSetup, stdin io.Reader, stdout, stderr io.Writer) int {
	asJSON, live, yes := false, false, false
	var rest []string
	for _, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true":
			asJSON = true
		case "--json=false", "-json=false":
			asJSON = false
		case "--live", "-live":
			live = true
		case "--yes", "-yes", "-y":
			yes = true
		case "--help", "-help", "-h":
			printCheckHelp(stderr)
			return 0
		default:
			rest = append(rest, a)
		}
	}
	setup, err := parse(rest)
	if err != nil {
		fmt.Fprintln(stderr, "tallyfy-mcp check:", strings.Replace(err.Error(), "(see --help)", "(see tallyfy-mcp check --help)", 1))
		return 2
	}
	if live && !yes && !agreeToLive(stdin, stderr) {
		return 2
	}
	set := &Set{Warnings: setup.Warnings}
	targets, err := setup.Open(readOnlyHTTPClient())
	if targets != nil && targets.Close != nil {
		defer func() { _ = targets.Close() }()
	}
	if err != nil {
		set.Reports = []*Report{configFailure(setup, err)}
		return writeCheck(set, asJSON, stdout, stderr)
	}
	if setup.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, setup.Deadline)
		defer cancel()
	}
	// The server's own token (or the sandbox's), then each caller's, each in its own block.
	if targets.Own != nil {
		set.Reports = append(set.Reports, Run(ctx, targets.Own))
	}
	for _, who := range targets.Callers {
		rep := Run(ctx, who.Client)
		rep.Caller = who.Name
		set.Reports = append(set.Reports, rep)
	}
	if live {
		if targets.Own == nil {
			fmt.Fprintln(stderr, "tallyfy-mcp check --live: runs with the server's own token (TALLYFY_ACCESS_TOKEN or --token-file) or --sandbox; a callers file alone names no token to create the throwaway task with")
			return 2
		}
		set.Live = RunLive(allowWrites(ctx), targets.Own)
	}
	return writeCheck(set, asJSON, stdout, stderr)
}

func writeCheck(set *Set, asJSON bool, stdout, stderr io.Writer) int {
	set.Settle()
	var err error
	if asJSON {
		err = set.WriteJSON(stdout)
	} else {
		err = set.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tallyfy-mcp check: writing the report:", err)
		return 1
	}
	if !set.OK {
		return 1
	}
	return 0
}

// agreeToLive asks the person, on a terminal, before check --live writes to their Tallyfy.
// Without a terminal it refuses: only --yes agrees then.
func agreeToLive(stdin io.Reader, stderr io.Writer) bool {
	if f, isFile := stdin.(*os.File); !isFile || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(stderr, "tallyfy-mcp check --live: refused: it creates, archives, restores and permanently deletes one throwaway one-off task in your Tallyfy organization, and stdin is not a terminal to ask you. Run it again with --yes to agree.")
		return false
	}
	fmt.Fprintf(stderr, "tallyfy-mcp check --live creates one one-off task titled %q in your Tallyfy organization, archives, restores and permanently deletes it, reads one archived process and template, and activates one active process (it says whether that changed anything). Proceed? [y/N] ", LiveTaskTitle)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	fmt.Fprintln(stderr, "tallyfy-mcp check --live: not run: nothing was changed.")
	return false
}

// configFailure is the report of a configuration that cannot make a client (no token, a bad
// organization ID or base URL): one failed check that says what to set, and every other check
// shown as not checked. Neither the base URL's credentials nor an organization ID that may be a
// token are echoed.
func configFailure(setup *Setup, err error) *Report {
	rep := &Report{BaseURL: tallyfy.ShownBaseURL(setup.BaseURL), OrgID: ShownOrgID(setup.OrgID), Checks: []Check{{
		Name: "configuration", Status: StatusFail,
		Message: strings.TrimPrefix(err.Error(), "tallyfy: "),
		Fix:     "set TALLYFY_ACCESS_TOKEN (or --token-file), TALLYFY_ORG_ID and, if needed, TALLYFY_BASE_URL, then run tallyfy-mcp check again",
	}}}
	for _, name := range []string{"token", "organization", "role", "tasks", "runs", "templates", "rate_limits"} {
		rep.skip(name, "the configuration is incomplete")
	}
	return rep
}

// liveWrites marks the context of check --live's own requests: the only ones the check's
// transport lets write.
type liveWrites struct{}

func allowWrites(ctx context.Context) context.Context {
	return context.WithValue(ctx, liveWrites{}, true)
}

// readOnlyTransport refuses every request but GET and HEAD before it leaves the process, so
// the check cannot write whatever the client is asked to do; check --live's requests, and
// only they, carry the mark that lets them write.
type readOnlyTransport struct{ next http.RoundTripper }

func (t readOnlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Context().Value(liveWrites{}) == nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, errors.New("tallyfy-mcp check sends only GET requests; refused " + r.Method)
	}
	return t.next.RoundTrip(r)
}

func readOnlyHTTPClient() *http.Client {
	hc := tallyfy.NewHTTPClient()
	hc.Transport = readOnlyTransport{next: hc.Transport}
	return hc
}

func printCheckHelp(w io.Writer) {
	fmt.Fprint(w, `tallyfy-mcp check [--json] [--live [--yes]] [flags]: check a Tallyfy token and organization
before wiring up an agent. It sends only GET requests: it verifies the token (GET /me), the
membership of the organization and your role (GET /me/organizations; a wrong organization ID
lists yours), says per role which tools Tallyfy will refuse, reads one page of the one-off task,
process and template listings with archived items, names any field in an undocumented shape
(⚠: report it), and shows the rate-limit headers Tallyfy sent. With --callers, one block per
caller. ✓ passed, ✗ failed, ⚠ works but report it, – not checked; exit 1 if any check failed.
The token is never printed.

  --json   one JSON object instead of lines
  --live   also learn what this organization's Tallyfy does where no source says: create one
           throwaway one-off task titled "tallyfy-mcp check — safe to delete", archive it,
           archive it again, restore it, restore it again, archive and permanently delete it,
           read an archived process and template, activate an active process, and print a table
           of the answers. It deletes what it created even when a step fails. It asks first
           on a terminal, and is refused without --yes when stdin is not one.
  --yes    agree to --live without being asked
  --sandbox, --access-token, --token-file, --org-id, --base-url, --callers,
  --request-timeout and --tool-timeout (the whole check's deadline) work as for the server,
  with the same variables (TALLYFY_ACCESS_TOKEN, TALLYFY_ORG_ID, TALLYFY_BASE_URL, …).
  See tallyfy-mcp --help.
`)
}
