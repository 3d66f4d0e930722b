package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
)

// CallerEntry is one caller of a shared deployment, as the --callers file (JSON) lists them:
//
//	{"callers": [{"name": "alice", "token_sha256": "<sha256 hex of alice's MCP bearer token>",
//	  "tallyfy_token_env": "ALICE_TALLYFY_TOKEN", "max_tier": "lifecycle"}]}
//
// The file holds only a hash of each MCP bearer token, never the token, and only where each
// caller's own Tallyfy token is found (a file or an environment variable), never that token.
type CallerEntry struct {
	Name string `json:"name"`
	// TokenSHA256 is the hex SHA-256 of the caller's MCP bearer token (printf %s "$TOKEN" | sha256sum | cut -d' ' -f1).
	TokenSHA256 string `json:"token_sha256"`
	// Where the caller's own Tallyfy token comes from: exactly one of the two.
	TallyfyTokenFile string `json:"tallyfy_token_file,omitempty"`
	TallyfyTokenEnv  string `json:"tallyfy_token_env,omitempty"`
	// OrgID is the caller's Tallyfy organization; default the server's --org-id.
	OrgID string `json:"org_id,omitempty"`
	// Subject and Email map an OAuth access token's sub or email claim to this entry.
	Subject string `json:"oauth_subject,omitempty"`
	Email   string `json:"email,omitempty"`
	// The caller's policy cap; the server's flags cap every caller on top.
	MaxTier      string   `json:"max_tier,omitempty"` // read, lifecycle or permanent (default)
	Tools        []string `json:"tools,omitempty"`
	ExcludeTools []string `json:"exclude_tools,omitempty"`
	Protect      []string `json:"protect,omitempty"`
	// The approval page and the two-person rule (issue 21; server/approvalpage): the
	// SHA-256 of the passphrase they type there (printf %s "$PASSPHRASE" | sha256sum), and
	// who must approve their calls of a tier (require_approval permanent, or lifecycle for
	// bulk archive too).
	ApprovalPassphraseSHA256 string   `json:"approval_passphrase_sha256,omitempty"`
	Approvers                []string `json:"approvers,omitempty"`
	RequireApproval          string   `json:"require_approval,omitempty"`
}

// knownCaller is a loaded entry: its token hash, and the tools.Caller requests act as.
type knownCaller struct {
	hash   [32]byte
	entry  CallerEntry
	caller tools.Caller
	who    *tallyfyUser
	// passphrase is the SHA-256 of their approval passphrase (nil: none).
	passphrase []byte
}

// tallyfyUser is the caller's Tallyfy user, looked up once (GET /me, as check does) on their
// first request, for audit records. A failed look-up is tried again at most once a minute.
type tallyfyUser struct {
	mu    sync.Mutex
	user  string
	tried time.Time
}

// identify fills in the caller's Tallyfy user, looking it up if it is not known yet.
func (k *knownCaller) identify(ctx context.Context, c *tools.Caller) {
	k.who.mu.Lock()
	defer k.who.mu.Unlock()
	if k.who.user == "" && (k.who.tried.IsZero() || time.Since(k.who.tried) > time.Minute) {
		k.who.tried = time.Now()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if me, err := k.caller.Client.GetMe(ctx); err == nil {
			k.who.user = me.Email + " (id " + me.ID + ")"
			if me.Email == "" {
				k.who.user = "id " + me.ID
			}
		}
	}
	c.TallyfyUser = k.who.user
}

// Callers is the loaded --callers file. Reload swaps it whole (SIGHUP): a request sees either
// the old file or the new one, and a bad new file leaves the old one in force.
type Callers struct {
	path   string
	base   tallyfy.Config // the server's Tallyfy settings; each caller adds token and org
	getenv func(string) string
	cur    atomic.Pointer[[]knownCaller]
}

var callerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// LoadCallers reads and checks the file; any error names the entry, its line and the reason.
func LoadCallers(path string, base tallyfy.Config, getenv func(string) string) (*Callers, error) {
	c := &Callers{path: path, base: base, getenv: getenv}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the file again; on error the callers loaded before stay in force.
func (c *Callers) Reload() error {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return fmt.Errorf("--callers: %w", err)
	}
	loaded, err := parseCallers(c.path, data, c.base, c.getenv)
	if err != nil {
		return err
	}
	c.cur.Store(&loaded)
	return nil
}

// List is every loaded caller, in file order (for tallyfy-mcp check's one block per caller).
func (c *Callers) List() []tools.Caller {
	list := *c.cur.Load()
	out := make([]tools.Caller, len(list))
	for i := range list {
		out[i] = list[i].caller
	}
	return out
}

// Len is how many callers are loaded.
func (c *Callers) Len() int { return len(*c.cur.Load()) }

// Match finds the caller whose token hashes to sum. Every entry is compared, in constant time,
// so the time taken tells nothing about which entry (or how much of a hash) matched. The
// caller's Tallyfy user is looked up on their first request.
func (c *Callers) Match(ctx context.Context, sum [32]byte) (tools.Caller, bool) {
	var found *knownCaller
	list := *c.cur.Load()
	for i := range list {
		if subtle.ConstantTimeCompare(sum[:], list[i].hash[:]) == 1 {
			found = &list[i]
		}
	}
	if found == nil {
		return tools.Caller{}, false
	}
	who := found.caller
	found.identify(ctx, &who)
	return who, true
}

// errCallerConflict: the token's subject and its verified email map to two different entries.
var errCallerConflict = errors.New("the token's sub and email map to different callers-file entries")

// ForOAuth finds the entry an OAuth token maps to: the entry whose oauth_subject is the token's
// sub, looked for across all entries first; else, only if the provider said explicitly that it
// verified the address, the entry whose email equals it, ASCII letters compared regardless of
// case and nothing else folded (so neither "ſ" nor the Kelvin sign stands in for s or k). A
// token whose sub and email point at different entries is refused (errCallerConflict): one
// of the two claims would lend the other entry's Tallyfy identity.
func (c *Callers) ForOAuth(ctx context.Context, sub, email string, emailVerified bool) (tools.Caller, bool, error) {
	list := *c.cur.Load()
	bySub, byEmail := -1, -1
	for i, k := range list {
		if sub != "" && k.entry.Subject == sub {
			bySub = i
		}
		if emailVerified && email != "" && k.entry.Email != "" && strings.Map(asciiLower, k.entry.Email) == strings.Map(asciiLower, email) {
			byEmail = i
		}
	}
	found := bySub
	switch {
	case bySub >= 0 && byEmail >= 0 && bySub != byEmail:
		return tools.Caller{}, false, errCallerConflict
	case bySub < 0:
		found = byEmail
	}
	if found < 0 {
		return tools.Caller{}, false, nil
	}
	who := list[found].caller
	list[found].identify(ctx, &who)
	return who, true, nil
}

// asciiLower lowercases ASCII letters only, for emails compared with nothing else folded
// (strings.EqualFold folds Unicode: "ſ" equals "s", the Kelvin sign "K" equals "k").
func asciiLower(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// lineOf is the 1-based line of byte offset off in data.
func lineOf(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

func parseCallers(path string, data []byte, base tallyfy.Config, getenv func(string) string) ([]knownCaller, error) {
	fail := func(line int, format string, a ...any) error {
		return fmt.Errorf("--callers %s, line %d: %s", path, line, fmt.Sprintf(format, a...))
	}
	// Walk the tokens to know where each entry starts, for messages that name its line.
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fail(lineOf(data, se.Offset), "not valid JSON: %v", err)
		case errors.As(err, &te):
			return fail(lineOf(data, te.Offset), "%v", err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return fail(lineOf(data, int64(len(data))), "the file ends early: want {\"callers\": [ … ]}")
		}
		return fail(lineOf(data, dec.InputOffset()), "%v", err)
	}
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fail(lineOf(data, dec.InputOffset()), "want {\"callers\": [ … ]}")
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return nil, err
	}
	var out []knownCaller
	names := map[string]bool{}
	seenCallers := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		if tok != "callers" {
			return nil, fail(lineOf(data, dec.InputOffset()), "unknown key %q: the file holds only \"callers\"", tok)
		}
		seenCallers = true
		if err := expect('['); err != nil {
			return nil, err
		}
		hashes, subjects, emails := map[[32]byte]string{}, map[string]string{}, map[string]string{}
		for n := 1; dec.More(); n++ {
			start := dec.InputOffset()
			for start < int64(len(data)) && strings.ContainsRune(" \t\r\n,", rune(data[start])) {
				start++
			}
			line := lineOf(data, start)
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, syntax(err)
			}
			var e CallerEntry
			ed := json.NewDecoder(bytes.NewReader(raw))
			ed.DisallowUnknownFields() // a misspelt key (e.g. "exclude_tool") must not silently widen a cap
			if err := ed.Decode(&e); err != nil {
				return nil, fail(line, "entry %d: %v", n, err)
			}
			k, err := checkCaller(e, base, getenv)
			if err != nil {
				label := fmt.Sprintf("entry %d", n)
				if e.Name != "" {
					label += fmt.Sprintf(" (%q)", e.Name)
				}
				return nil, fail(line, "%s: %v", label, err)
			}
			if names[e.Name] {
				return nil, fail(line, "entry %d: the name %q is used twice", n, e.Name)
			}
			if other, dup := hashes[k.hash]; dup {
				return nil, fail(line, "entry %d (%q): the same token_sha256 as %q: each caller needs their own token", n, e.Name, other)
			}
			if other, dup := subjects[e.Subject]; dup && e.Subject != "" {
				return nil, fail(line, "entry %d (%q): the same oauth_subject as %q: a signed-in person maps to one entry", n, e.Name, other)
			}
			folded := strings.Map(asciiLower, e.Email)
			if other, dup := emails[folded]; dup && e.Email != "" {
				return nil, fail(line, "entry %d (%q): the same email as %q: a signed-in person maps to one entry", n, e.Name, other)
			}
			names[e.Name], hashes[k.hash], subjects[e.Subject], emails[folded] = true, e.Name, e.Name, e.Name
			out = append(out, k)
		}
		if err := expect(']'); err != nil {
			return nil, err
		}
	}
	if err := expect('}'); err != nil {
		return nil, err
	}
	for _, k := range out {
		for _, a := range k.entry.Approvers {
			if !names[a] {
				return nil, fail(1, "entry %q: approver %q is not a caller in this file", k.entry.Name, a)
			}
		}
	}
	if !seenCallers || len(out) == 0 {
		return nil, fail(1, "no callers: want {\"callers\": [{\"name\": …, \"token_sha256\": …, \"tallyfy_token_env\": …}]}")
	}
	return out, nil
}

// weakTokenWords are bearer tokens anybody would try first. A hash of one of them (as typed,
// capitalized or in capitals, with or without the newline that echo adds) is refused.
var weakTokenWords = []string{"", "secret", "password", "passw0rd", "admin", "root", "changeme", "change-me", "test", "testing",
	"token", "bob", "alice", "123", "1234", "12345", "123456", "12345678", "123456789", "qwerty", "letmein", "welcome",
	"default", "example", "demo", "mcp", "tallyfy", "hunter2", "xxx", "abc"}

// weakTokenHashes maps the SHA-256 of each weak token form to how to name it in an error.
var weakTokenHashes = sync.OnceValue(func() map[[32]byte]string {
	out := map[[32]byte]string{}
	for _, w := range weakTokenWords {
		name := fmt.Sprintf("the well-known weak token %q", w)
		if w == "" {
			name = "the empty string"
		}
		for _, form := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:min(1, len(w))]) + w[min(1, len(w)):]} {
			for _, nl := range []string{"", "\n"} {
				out[sha256.Sum256([]byte(form+nl))] = name
			}
		}
	}
	return out
})

// checkCaller validates one entry and builds its Tallyfy client.
func checkCaller(e CallerEntry, base tallyfy.Config, getenv func(string) string) (knownCaller, error) {
	k := knownCaller{entry: e, who: &tallyfyUser{}}
	if !callerName.MatchString(e.Name) {
		return k, errors.New(`"name" must be 1 to 64 letters, digits or . _ @ + - (it appears in audit records)`)
	}
	h, err := hex.DecodeString(strings.ToLower(e.TokenSHA256))
	if err != nil || len(h) != sha256.Size {
		return k, errors.New(`"token_sha256" must be the 64 hex characters of the SHA-256 of their MCP bearer token (printf %s "$TOKEN" | sha256sum | cut -d' ' -f1), never the token itself`)
	}
	copy(k.hash[:], h)
	if word, weak := weakTokenHashes()[k.hash]; weak {
		return k, fmt.Errorf(`"token_sha256" is the hash of %s, which anybody can guess: give them a random token (openssl rand -hex 32) and put its hash here`, word)
	}
	var token string
	switch {
	case (e.TallyfyTokenFile == "") == (e.TallyfyTokenEnv == ""):
		return k, errors.New(`give exactly one of "tallyfy_token_file" and "tallyfy_token_env": where their own Tallyfy token is`)
	case e.TallyfyTokenFile != "":
		b, err := os.ReadFile(e.TallyfyTokenFile)
		if err != nil {
			return k, fmt.Errorf("reading their Tallyfy token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return k, fmt.Errorf("their Tallyfy token file %s is empty", e.TallyfyTokenFile)
		}
	default:
		if token = strings.TrimSpace(getenv(e.TallyfyTokenEnv)); token == "" {
			return k, fmt.Errorf("the environment variable %s (their Tallyfy token) is not set", e.TallyfyTokenEnv)
		}
	}
	var cap tools.Policy
	switch e.MaxTier {
	case "", string(tools.TierPermanent):
	case string(tools.TierLifecycle):
		cap.DisablePermanentDelete = true
	case string(tools.TierRead):
		cap.ReadOnly = true
	default:
		return k, fmt.Errorf(`"max_tier" must be read, lifecycle or permanent, not %q`, e.MaxTier)
	}
	cap.Tools, cap.ExcludeTools = e.Tools, e.ExcludeTools
	if err := cap.Validate(); err != nil {
		return k, err
	}
	if cap.Protect, err = tools.NormalizeProtectedIDs(e.Protect); err != nil {
		return k, fmt.Errorf(`"protect": %w`, err)
	}
	cfg := base
	cfg.Token = token
	if e.OrgID != "" {
		cfg.OrgID = e.OrgID
	}
	client, err := tallyfy.New(cfg)
	if err != nil {
		return k, err
	}
	k.caller = tools.Caller{Name: e.Name, Binding: "callers:" + e.Name, Client: client, Cap: &cap}
	if err := checkApprovalEntry(e, &k); err != nil {
		return k, err
	}
	return k, nil
}

// LogCallers says how many callers are loaded, never their hashes or token sources' contents.
func LogCallers(logger *slog.Logger, c *Callers, what string) {
	names := make([]string, 0, c.Len())
	for _, k := range *c.cur.Load() {
		names = append(names, k.entry.Name)
	}
	logger.Info(what, "callers", len(names), "names", strings.Join(names, ","))
}

// checkApprovalEntry reads an entry's approval passphrase hash and two-person rule.
func checkApprovalEntry(e CallerEntry, k *knownCaller) error {
	if e.ApprovalPassphraseSHA256 != "" {
		h, err := hex.DecodeString(strings.ToLower(e.ApprovalPassphraseSHA256))
		if err != nil || len(h) != sha256.Size {
			return errors.New(`"approval_passphrase_sha256" must be the 64 hex characters of the SHA-256 of their approval passphrase (printf %s "$PASSPHRASE" | sha256sum), never the passphrase`)
		}
		k.passphrase = h
	}
	switch e.RequireApproval {
	case "":
		if len(e.Approvers) > 0 {
			return errors.New(`"approvers" needs "require_approval": permanent (deletes) or lifecycle (deletes and bulk archive)`)
		}
	case string(tools.TierPermanent), string(tools.TierLifecycle):
		if len(e.Approvers) == 0 {
			return errors.New(`"require_approval" needs "approvers": the callers who may approve (not this one)`)
		}
		for _, a := range e.Approvers {
			if a == e.Name {
				return errors.New(`"approvers" must not name the caller themself: the two-person rule refuses self-approval`)
			}
		}
		k.caller.Approvers, k.caller.RequireApproval = e.Approvers, tools.Tier(e.RequireApproval)
	default:
		return fmt.Errorf(`"require_approval" must be permanent or lifecycle, not %q`, e.RequireApproval)
	}
	return nil
}

// HasPassphrase reports whether the named caller has an approval passphrase.
func (c *Callers) HasPassphrase(name string) bool {
	for _, k := range *c.cur.Load() {
		if k.entry.Name == name && k.passphrase != nil {
			return true
		}
	}
	return false
}

// CheckPassphrase compares a passphrase's SHA-256 with the named caller's, in constant time.
func (c *Callers) CheckPassphrase(name, passphrase string) bool {
	sum := sha256.Sum256([]byte(passphrase))
	ok := false
	for _, k := range *c.cur.Load() {
		if k.entry.Name == name && k.passphrase != nil {
			ok = subtle.ConstantTimeCompare(sum[:], k.passphrase) == 1
		}
	}
	return ok
}
