package tools

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Caller is who sent a request, as the transport authenticated them. On a shared deployment
// each caller acts with their own Tallyfy token and within their own policy cap.
type Caller struct {
	// Name is what audit records call them: a --callers entry or an OAuth subject; "" for the
	// single caller of --auth-token (or an unauthenticated loopback caller).
	Name string
	// Binding identifies them ("callers:" + name, "oauth:" + issuer + "|" + subject, or
	// "bearer:" + a hash of the one --auth-token); Key builds on it, so a confirm token opens
	// only for the caller it was issued to.
	Binding string
	// Client calls Tallyfy with the caller's own token; nil means the server's client.
	Client *tallyfy.Client
	// Cap narrows the server's policy for this caller (the server's flags cap everyone).
	Cap *Policy
	// TallyfyUser is their Tallyfy user (email, or id) as Tallyfy reported it, for audit.
	TallyfyUser string
	// Approvers and RequireApproval are the two-person rule (issue 21 point 4): calls of the
	// tier named (permanent; lifecycle adds bulk archive) wait for one of the approvers.
	Approvers       []string
	RequireApproval Tier
}

// Key is the one name of who is calling, for everything kept per caller: the confirm binding
// (callerBinding), the cancel scope, the rate limit and session ownership. "" for an anonymous
// caller (stdio, or an open loopback server), whom each transport names its own way.
func (c Caller) Key() string {
	if c.Binding == "" {
		return ""
	}
	return "caller:" + c.Binding
}

// CallerKey is the Key of the request's caller, "" when none is named.
func CallerKey(ctx context.Context) string {
	c, _ := CallerFrom(ctx)
	return c.Key()
}

type callerKey struct{}

// WithCaller marks ctx with the request's caller (the HTTP transports do, per request).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the request's caller, if the transport named one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// clientFor is the Tallyfy client a request acts with: the caller's own, else the server's.
func (ts *Toolset) clientFor(ctx context.Context) *tallyfy.Client {
	if c, ok := CallerFrom(ctx); ok && c.Client != nil {
		return c.Client
	}
	return ts.opts.Client
}

// policyFor is the policy in force for a request: the server's, narrowed by the caller's cap.
func (ts *Toolset) policyFor(ctx context.Context) Policy {
	if c, ok := CallerFrom(ctx); ok && c.Cap != nil {
		return ts.opts.Policy.Narrow(*c.Cap)
	}
	return ts.opts.Policy
}

// noTool is a --tools entry no tool has: an empty intersection of two tool lists.
const noTool = "\x00none"

// Narrow returns p restricted further by cap: each switch is on if either has it on, tools
// must be in both lists (where both have one), and exclusions and protected IDs add up. The
// delete budget stays the server's: it is one for everybody.
func (p Policy) Narrow(cap Policy) Policy {
	out := p
	out.ReadOnly = p.ReadOnly || cap.ReadOnly
	out.DisablePermanentDelete = p.DisablePermanentDelete || cap.DisablePermanentDelete
	switch {
	case len(p.Tools) == 0:
		out.Tools = slices.Clone(cap.Tools)
	case len(cap.Tools) > 0:
		out.Tools = nil
		for _, t := range p.Tools {
			if slices.Contains(cap.Tools, t) {
				out.Tools = append(out.Tools, t)
			}
		}
		if len(out.Tools) == 0 {
			out.Tools = []string{noTool}
		}
	}
	out.ExcludeTools = append(slices.Clone(p.ExcludeTools), cap.ExcludeTools...)
	out.Protect = append(slices.Clone(p.Protect), cap.Protect...)
	return out
}

// callerBinding is who a confirmation is bound to (see the function of that name).
func (ts *Toolset) callerBinding(ctx context.Context) string {
	return callerBinding(ctx, !ts.opts.State.Shared())
}

// sessionBinding is the session a confirm token or elicitation state is bound to. With a
// shared store (several replicas) it is none: a legacy session lives on one replica, and the
// caller (callerBinding) may confirm through any.
func (ts *Toolset) sessionBinding(ctx context.Context) string {
	if ts.opts.State.Shared() {
		return ""
	}
	return sessionID(ctx)
}

// capRefusal answers a call the server allows but the caller's own cap does not.
func capRefusal(ctx context.Context, t Tool) *mcp.CallToolResult {
	who, _ := CallerFrom(ctx)
	return mcp.NewToolResultError(fmt.Sprintf("Tool %s is not available to caller %q: their entry in the callers file does not allow it. Nothing was changed; ask the operator if this action is needed.", t.Name, who.Name))
}

// callerBinding is what a confirmation is bound to besides the session: the caller's Key
// (a --callers entry, an OAuth subject, or the hash of the one --auth-token) and the client's
// declared name, hashed together so that the token stays short whatever the name. Another
// caller or client name cannot redeem it.
//
// With replicas sharing state (withClient false) the client name is left out: an older
// client's name is known only on the replica that saw its initialize, and its caller may
// confirm through any.
func callerBinding(ctx context.Context, withClient bool) string {
	m := sha256.New()
	if key := CallerKey(ctx); key != "" {
		// The key with its first ':' written as NUL: the bytes tokens have always been bound
		// to, so a token issued before an upgrade still opens after it.
		m.Write([]byte(strings.Replace(key, ":", "\x00", 1)))
	}
	if withClient {
		name, _ := clientInfo(ctx)
		m.Write([]byte("\x00client\x00" + name))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// What else a tool call learns from its context besides its caller: the transport that
// carried it, its session and its client.

type transportKey struct{}

type transportInfo struct {
	name   string
	canAsk bool
}

// WithTransport marks ctx with the transport's name and whether it can carry a server-to-client
// question (elicitation). The server sets it per request; unmarked contexts (stdio,
// in-process) can.
func WithTransport(ctx context.Context, name string, canAsk bool) context.Context {
	return context.WithValue(ctx, transportKey{}, transportInfo{name: name, canAsk: canAsk})
}

// transportCanAsk reports whether the request's transport can carry an elicitation.
func transportCanAsk(ctx context.Context) bool {
	ti, ok := ctx.Value(transportKey{}).(transportInfo)
	return !ok || ti.canAsk
}

func transportName(ctx context.Context) string {
	if ti, ok := ctx.Value(transportKey{}).(transportInfo); ok {
		return ti.name
	}
	return "in-process"
}

func clientInfo(ctx context.Context) (name, version string) {
	if info := server.RequestProtocolInfoFromContext(ctx); info != nil && info.ClientInfo != nil {
		return info.ClientInfo.Name, info.ClientInfo.Version
	}
	if s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo); ok {
		ci := s.GetClientInfo()
		return ci.Name, ci.Version
	}
	return "", ""
}

// sessionID identifies the MCP session a token is bound to ("" where the transport has none).
func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}
