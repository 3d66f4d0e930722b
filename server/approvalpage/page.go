package approvalpage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/server/auth"
	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools"
	"github.com/tallyfy-mcp/tallyfy-mcp/tools/confirm"
)

// The approval page (issue 21 point 3): where a person approves or declines a permanent delete
// the model cannot confirm itself, for clients with neither MCP Apps nor elicitation.
//
//   - stdio: the person sits at the machine. The page is served on a loopback port, at
//     /approve/{id}/{secret}: the one-time secret in the path is the login. The link is opened
//     in their browser and written to the log on stderr, never put in a tool result.
//   - HTTP: the page is /approve/{id} on the server itself. The person logs in there with
//     their approval passphrase (its SHA-256 in the callers file), which the model does not
//     have; tries are rate-limited per caller in the shared store.
//
// Either way the page shows what will be destroyed, wants the name (single) or the count
// (bulk) typed, carries a CSRF token bound to a cookie, and decides through
// tools.DecideApproval, which enforces who may decide (the requester, or under the two-person
// rule an approver who is not the requester).

//go:embed approval_page.html
var approvalFiles embed.FS

var approvalTemplate = template.Must(template.New("approval_page.html").Funcs(template.FuncMap{
	"inc": func(i int) int { return i + 1 },
	// when shows an ISO 8601 time as the person reads it; anything else as it came.
	"when": func(s string) string {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return s
	},
}).ParseFS(approvalFiles, "approval_page.html"))

// Page is the approval page; it implements tools.ApprovalPage and tools.ApprovalLinker.
type Page struct {
	ts      *tools.Toolset
	local   bool           // stdio: loopback link with a secret; HTTP: passphrase login
	callers *auth.Callers  // HTTP: passphrases and names
	login   *approvalLogin // HTTP with --approval-oauth-client-id: the OAuth login (login.go)
	store   state.Store
	csrfKey []byte
	log     *slog.Logger
	browser string // --approval-browser; "" = the platform's opener
	now     func() time.Time

	// The loopback listener (stdio), started with the first approval.
	start    sync.Once
	base     string
	startErr error
	closeFn  func() error
}

// New builds the page: local (stdio) serves it on a loopback port with a secret link, else it
// is served by the HTTP transport (Handler) with a passphrase or OAuth login. callers holds
// the passphrases (nil: none); keys are the --confirm-key-file keys, which the CSRF key is
// derived from so that replicas accept each other's forms.
func New(local bool, callers *auth.Callers, store state.Store, keys [][]byte, log *slog.Logger, browser string) *Page {
	p := &Page{local: local, callers: callers, store: store, log: log, browser: browser, now: time.Now}
	if len(keys) > 0 { // replicas share the CSRF key, so a form shown by one is accepted by another
		m := hmac.New(sha256.New, keys[0])
		m.Write([]byte("approval page csrf"))
		p.csrfKey = m.Sum(nil)
	} else {
		p.csrfKey = make([]byte, 32)
		_, _ = rand.Read(p.csrfKey)
	}
	return p
}

// Reachable implements tools.ApprovalPage.
func (p *Page) Reachable(ctx context.Context, approvers []string) bool {
	if p.local {
		return true
	}
	if p.login != nil { // anyone the issuer knows can log in; DecideApproval checks who may decide
		who, ok := tools.CallerFrom(ctx)
		return len(approvers) > 0 || (ok && who.Name != "")
	}
	if p.callers == nil {
		return false
	}
	if len(approvers) > 0 {
		return slices.ContainsFunc(approvers, p.callers.HasPassphrase)
	}
	who, ok := tools.CallerFrom(ctx)
	return ok && who.Name != "" && p.callers.HasPassphrase(who.Name)
}

// Announce implements tools.ApprovalPage. The link with the secret goes only to the person:
// their browser, and stderr (documented in the README). The result gets no link.
func (p *Page) Announce(_ context.Context, pa *confirm.PendingApproval, secret string) string {
	if !p.local {
		how := "logs in with their approval passphrase"
		if p.login != nil {
			how = "logs in through the organization's identity provider"
		}
		return fmt.Sprintf("The approver opens /approve/%s on this server (same address as its /mcp endpoint) and %s.", pa.ID, how)
	}
	base, err := p.listen()
	if err != nil {
		p.log.Error("approval page could not be served", "err", err)
		return "The approval page could not be served (see the server's log); the person cannot approve until the operator fixes it."
	}
	link := base + "/approve/" + pa.ID + "/" + secret
	// The one place the secret link is written: the log on stderr, for the person at this
	// machine (in the log's own format, so a JSON log stays JSON).
	p.log.Warn("a permanent delete waits for your approval: open the link in your browser (anyone who has it can approve)", "link", link)
	if err := p.openBrowser(link); err != nil {
		p.log.Warn("could not open a browser for the approval page; the link is on stderr", "err", err)
		return "A browser could not be opened: the person finds the approval link on the server's stderr (it is never shown here)."
	}
	return "The approval page has opened in the person's browser (its link is also on the server's stderr; it is never shown here)."
}

// Link implements tools.ApprovalLinker: the page's address for a URL-mode elicitation, which
// the client gets in elicitation/create only (never a tool result or the log). stdio: the
// loopback link with its one-time secret; HTTP: /approve/{id} where the person logs in, on the
// host of --oauth-audience with the OAuth login (its cookies live there), else on the address
// the client reached this server at.
func (p *Page) Link(ctx context.Context, pa *confirm.PendingApproval, secret string) (string, error) {
	if p.local {
		base, err := p.listen()
		if err != nil {
			return "", err
		}
		return base + "/approve/" + pa.ID + "/" + secret, nil
	}
	origin := p.loginOrigin()
	if origin == "" {
		origin, _ = ctx.Value(pageOriginKey{}).(string)
	}
	if origin == "" {
		return "", errors.New("this server's address is not known for this request")
	}
	return origin + "/approve/" + url.PathEscape(pa.ID), nil
}

// loginOrigin is the origin of the OAuth login's redirect ("" without the login).
func (p *Page) loginOrigin() string {
	if p.login == nil {
		return ""
	}
	u, err := url.Parse(p.login.config.RedirectURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// pageOriginKey carries the origin an HTTP client reached this server at (its Host, which
// the allowlist checked), for the approval page's address in a URL-mode elicitation.
type pageOriginKey struct{}

// WithOrigin marks ctx with r's origin: https where this server terminates TLS, or a
// proxy in front of it does (--insecure-http off loopback); http only on plain loopback.
func WithOrigin(ctx context.Context, r *http.Request, behindProxy bool) context.Context {
	scheme := "http"
	if r.TLS != nil || (behindProxy && !loopbackHost(r.Host)) {
		scheme = "https"
	}
	return context.WithValue(ctx, pageOriginKey{}, scheme+"://"+r.Host)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// listen starts the loopback listener once.
func (p *Page) listen() (string, error) {
	p.start.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			p.startErr = err
			return
		}
		srv := &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go func() { _ = srv.Serve(ln) }()
		p.base = "http://" + ln.Addr().String()
		p.closeFn = srv.Close
	})
	return p.base, p.startErr
}

// Close stops the loopback listener, if it was started.
func (p *Page) Close() error {
	if p.closeFn != nil {
		return p.closeFn()
	}
	return nil
}

// openBrowser opens link with --approval-browser, or the platform's opener.
func (p *Page) openBrowser(link string) error {
	var cmd *exec.Cmd
	switch {
	case p.browser != "":
		fields := strings.Fields(p.browser)
		cmd = exec.Command(fields[0], append(fields[1:], link)...) //nolint:gosec // the operator's own command
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", link)
	case runtime.GOOS == "windows":
		cmd = exec.Command("cmd", "/c", "start", "", link)
	default:
		cmd = exec.Command("xdg-open", link)
	}
	// Never stdout: on stdio it carries JSON-RPC only.
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// Handler is the page as the HTTP transport serves it under /approve/, behind its Host
// allowlist (DNS rebinding), as the MCP endpoints are (the page has its own login: no bearer,
// the browser has none).
func (p *Page) Handler(hostAllowed func(host string) bool) http.Handler {
	routes := p.routes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host) {
			http.Error(w, "Forbidden: this Host is not allowed (add it with --allowed-hosts)", http.StatusForbidden)
			return
		}
		routes.ServeHTTP(w, r)
	})
}

// SetToolset gives the page the toolset it shows and decides approvals through (built after
// the page, which the toolset is given).
func (p *Page) SetToolset(ts *tools.Toolset) { p.ts = ts }

// routes is the page's handler: stdio links carry the secret, HTTP ones do not.
func (p *Page) routes() http.Handler {
	mux := http.NewServeMux()
	if p.local {
		mux.HandleFunc("GET /approve/{id}/{secret}", p.show)
		mux.HandleFunc("POST /approve/{id}/{secret}", p.decide)
	} else {
		mux.HandleFunc("GET /approve/{id}", p.show)
		mux.HandleFunc("POST /approve/{id}", p.decide)
		if p.login != nil {
			mux.HandleFunc("GET /approve/{id}/login", func(w http.ResponseWriter, r *http.Request) { p.login.start(w, r, r.PathValue("id")) })
			mux.HandleFunc("GET /approve/callback", p.loggedIn)
		}
	}
	return mux
}

// view is what the template shows.
type view struct {
	Nonce       string
	Title       string
	Error       string
	Done        string
	PA          *confirm.PendingApproval
	Expires     string
	Budget      string
	Bulk        bool
	Open        bool // pending, not expired: the form is shown
	Passphrase  bool // HTTP: the approver logs in
	CSRF        string
	ConfirmWhat string // "its name" or "the number of items"
	Approver    string
	Archive     bool // a bulk archive under the two-person rule, not a permanent delete
	Login       bool // HTTP with OAuth: the approver logs in through the identity provider
	LoginURL    string
}

const csrfCookie = "tallyfy_approve_csrf"

// headers are the page's security headers: a strict CSP with a per-response nonce for the one
// style block, no framing, no referrer to another site (a stdio link carries its secret), no
// caching.
func headers(w http.ResponseWriter) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.RawStdEncoding.EncodeToString(b)
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // never to another site; no-referrer would make the form's Origin "null"
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
	return nonce
}

// csrfFor is the form token for a cookie value and approval: HMAC, so it cannot be made
// without the server's key, and bound to the browser's cookie.
func (p *Page) csrfFor(cookie, id string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(cookie + "\x00" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// load finds the approval and, on stdio, checks the link's secret. Any failure looks the
// same: a wrong secret tells nothing about whether the id exists.
func (p *Page) load(r *http.Request) (*confirm.PendingApproval, error) {
	pa, err := p.ts.Approval(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if p.local && !confirm.CheckApprovalSecret(pa, r.PathValue("secret")) {
		return nil, confirm.ErrApprovalNotFound
	}
	return pa, nil
}

func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	pa, err := p.load(r)
	if err != nil {
		p.render(w, http.StatusNotFound, view{Title: "No such approval request", Error: errText(err)})
		return
	}
	cookie := confirm.RandomHex(16)
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		cookie = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: cookie, Path: "/approve/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	p.renderApproval(w, r, http.StatusOK, pa, p.csrfFor(cookie, pa.ID), "")
}

// renderApproval shows pa with the OAuth login filled in (who is logged in, or where to log in).
func (p *Page) renderApproval(w http.ResponseWriter, r *http.Request, status int, pa *confirm.PendingApproval, csrf, errMsg string) {
	v := p.viewOf(pa, csrf, errMsg)
	if p.login != nil {
		v.Login, v.Passphrase = true, false
		if v.Approver = p.login.who(r); v.Approver == "" {
			v.LoginURL = "/approve/" + pa.ID + "/login"
		}
	}
	p.render(w, status, v)
}

// loggedIn is the issuer's redirect back: the approver is logged in, back to the request.
func (p *Page) loggedIn(w http.ResponseWriter, r *http.Request) {
	id, err := p.login.callback(w, r)
	if err != nil {
		p.log.Warn("approval page: OAuth login failed", "err", err)
		p.render(w, http.StatusForbidden, view{Title: "Login failed", Error: tools.Capitalize(err.Error()) + "."})
		return
	}
	http.Redirect(w, r, "/approve/"+url.PathEscape(id), http.StatusFound)
}

func (p *Page) viewOf(pa *confirm.PendingApproval, csrf, errMsg string) view {
	v := view{Title: "Approve a permanent delete", PA: pa, CSRF: csrf, Error: errMsg, Bulk: pa.Count() > 1, Passphrase: !p.local,
		Expires: pa.ExpiresAt.UTC().Format("2006-01-02 15:04:05 MST"), ConfirmWhat: "its name"}
	if v.Bulk {
		v.ConfirmWhat = "the number of items"
	}
	if t, ok := tools.ByName(pa.Tool); ok && t.Verb == tools.VerbArchive {
		v.Archive, v.Title = true, "Approve an archive"
	}
	if pa.DeletesLeft >= 0 {
		v.Budget = fmt.Sprintf("This uses %d of the %d permanent deletes left this hour.", pa.Count(), pa.DeletesLeft)
	}
	expired := pa.Expired(p.now())
	switch {
	case pa.Status == confirm.ApprovalApproved:
		v.Done = fmt.Sprintf("Approved by %s. Go back to the chat: the agent acts when it calls again.", pa.DecidedBy)
		if pa.InCall {
			v.Done = fmt.Sprintf("Approved by %s. Go back to the chat: the agent's waiting call goes ahead now (or, if it stopped waiting, when it calls again).", pa.DecidedBy)
		}
	case pa.Status == confirm.ApprovalDeclined:
		v.Done = fmt.Sprintf("Declined by %s. Nothing will be changed.", pa.DecidedBy)
	case expired:
		v.Done = "This request has expired. Nothing was changed; the agent must ask again."
	default:
		v.Open = true
	}
	return v
}

func (p *Page) render(w http.ResponseWriter, status int, v view) {
	v.Nonce = headers(w)
	w.WriteHeader(status)
	if err := approvalTemplate.Execute(w, v); err != nil {
		p.log.Error("approval page", "err", err)
	}
}

// sameOrigin refuses a form posted from another site: the browser's Sec-Fetch-Site or Origin
// says where the request came from (the CSRF token checks it too).
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

func (p *Page) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	pa, err := p.load(r)
	if err != nil {
		p.render(w, http.StatusNotFound, view{Title: "No such approval request", Error: errText(err)})
		return
	}
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, view{Title: "Bad request", Error: "The form could not be read."})
		return
	}
	c, cerr := r.Cookie(csrfCookie)
	if !sameOrigin(r) || cerr != nil || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.csrfFor(c.Value, pa.ID))) != 1 {
		p.log.Warn("approval page: a form without a valid CSRF token was refused", "approval", pa.ID)
		p.render(w, http.StatusForbidden, view{Title: "Refused", Error: "This form did not come from this page (or it is stale). Nothing was decided. Open the approval link again."})
		return
	}
	csrf := r.PostFormValue("csrf")
	retry := func(status int, msg string) { p.renderApproval(w, r, status, pa, csrf, msg) }
	approver := pa.Requester // stdio: the secret link is the person at the machine
	switch {
	case p.login != nil:
		if approver = p.login.who(r); approver == "" {
			retry(http.StatusForbidden, "Log in first: nothing was decided.")
			return
		}
	case !p.local:
		name := strings.TrimSpace(r.PostFormValue("approver"))
		ok, err := p.checkLogin(r.Context(), name, r.PostFormValue("passphrase"))
		switch {
		case err != nil:
			retry(http.StatusTooManyRequests, err.Error())
			return
		case !ok:
			retry(http.StatusForbidden, "That name and approval passphrase do not match. Nothing was decided.")
			return
		}
		approver = name
	}
	approve := r.PostFormValue("decision") == "approve"
	if approve {
		typed := strings.TrimSpace(r.PostFormValue("confirm"))
		want := strconv.Itoa(pa.Count())
		if pa.Count() == 1 {
			want = pa.Items[0].Name
		}
		if !strings.EqualFold(typed, strings.TrimSpace(want)) {
			what := "The name typed does not match the item's name"
			if pa.Count() > 1 {
				what = fmt.Sprintf("The number typed is not the %d items of this request", pa.Count())
			}
			retry(http.StatusUnprocessableEntity, what+". Nothing was approved.")
			return
		}
	}
	decided, err := p.ts.DecideApproval(r.Context(), pa.ID, confirm.ApprovalDecision{Approve: approve, Channel: confirm.ApprovalPage, Approver: approver})
	if decided == nil {
		decided = pa
	}
	status, msg := http.StatusOK, ""
	if err != nil {
		status, msg = http.StatusConflict, errText(err)
		if errors.Is(err, confirm.ErrSelfApproval) || errors.Is(err, confirm.ErrNotAnApprover) {
			status = http.StatusForbidden
		}
	}
	p.renderApproval(w, r, status, decided, csrf, msg)
}

// checkLogin checks an approver's passphrase, at most loginTries a caller per loginWindow across
// replicas (the shared store's window), so it cannot be guessed by trying.
func (p *Page) checkLogin(ctx context.Context, name, passphrase string) (bool, error) {
	if p.callers == nil || name == "" || passphrase == "" {
		return false, nil
	}
	release, freeAt, err := p.store.Take(ctx, "approval-login:"+name, p.now(), loginTries, loginWindow)
	if err != nil {
		return false, errors.New("the login could not be checked (the shared state store did not answer); try again shortly")
	}
	if release == nil {
		return false, fmt.Errorf("too many tries for %s: wait until %s and try again", name, freeAt.UTC().Format("15:04:05 MST"))
	}
	ok := p.callers.CheckPassphrase(name, passphrase)
	if ok {
		release() // only failed tries count
	}
	return ok, nil
}

const (
	loginTries  = 5
	loginWindow = 15 * time.Minute
)

func errText(err error) string {
	switch {
	case errors.Is(err, confirm.ErrApprovalNotFound), errors.Is(err, confirm.ErrApprovalExpired), errors.Is(err, confirm.ErrApprovalDecided),
		errors.Is(err, confirm.ErrSelfApproval), errors.Is(err, confirm.ErrNotAnApprover), errors.Is(err, confirm.ErrWrongChannel):
		return tools.Capitalize(err.Error()) + "."
	}
	return "The decision could not be recorded (" + err.Error() + "). Nothing was decided."
}
