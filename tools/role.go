package tools

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"golang.org/x/sync/singleflight"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Roles decide before the person is asked: a permanent delete Tallyfy refuses for the
// caller's role (tallyfy.Role.May, from Tallyfy's docs: docs/tallyfy-api.md §8) is refused in
// the resolve stage, before any read, preview or confirmation, and tools/list leaves out the
// single-item deletes the role cannot do. The role is read once per credential
// (GET /me/organizations, as `tallyfy-mcp check` reads it) and kept briefly. When it cannot be
// read, or Tallyfy names no documented role, nothing is refused here: Tallyfy's own answer
// decides, as before.

const (
	// roleTTL is how long a role read stays in use: a role changed in Tallyfy is seen within it.
	roleTTL = 5 * time.Minute
	// roleRetry is how long an unreadable role is left unknown before it is read again.
	roleRetry = 30 * time.Second
	// roleReadTimeout bounds the read, so a slow Tallyfy delays a call or a tools/list by at
	// most this much (the role then stays unknown).
	roleReadTimeout = 3 * time.Second
)

// roleCache holds each credential's role in its organization. Keyed by client: a client is one
// token on one organization (tallyfy/pacing.go).
type roleCache struct {
	mu    sync.Mutex
	roles map[*tallyfy.Client]roleRead
	group singleflight.Group
}

type roleRead struct {
	role tallyfy.Role // "" when unknown
	at   time.Time
}

// roleOf returns the role of the client's user, reading it when it is not known (one read at a
// time per client): "" when it could not be read (Role.Known: whether it is a documented role).
func (ts *Toolset) roleOf(ctx context.Context, c *tallyfy.Client) tallyfy.Role {
	if r, fresh := ts.cachedRole(c); fresh {
		return r
	}
	key := fmt.Sprintf("%p", c)
	v, _, _ := ts.roles.group.Do(key, func() (any, error) {
		if r, fresh := ts.cachedRole(c); fresh {
			return r, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), roleReadTimeout)
		defer cancel()
		var role tallyfy.Role
		if ms, err := c.GetMembership(rctx); err == nil {
			role = ms.Role
		} else {
			ts.opts.Logger.Debug("the caller's role could not be read: Tallyfy decides each delete", "err", err)
		}
		ts.roles.mu.Lock()
		ts.roles.roles[c] = roleRead{role: role, at: ts.opts.Now()}
		ts.roles.mu.Unlock()
		return role, nil
	})
	r, _ := v.(tallyfy.Role)
	return r
}

// cachedRole is the role last read for c; fresh is false when there is none in date.
func (ts *Toolset) cachedRole(c *tallyfy.Client) (r tallyfy.Role, fresh bool) {
	ts.roles.mu.Lock()
	defer ts.roles.mu.Unlock()
	read, ok := ts.roles.roles[c]
	if !ok {
		return "", false
	}
	ttl := roleTTL
	if !read.role.Known() {
		ttl = roleRetry
	}
	return read.role, ts.opts.Now().Sub(read.at) < ttl
}

// OperationOf is the tallyfy operation of a changing verb (preflight's role check uses it too).
func OperationOf(v Verb) tallyfy.Operation {
	switch v {
	case VerbArchive:
		return tallyfy.OpArchive
	case VerbRestore:
		return tallyfy.OpRestore
	}
	return tallyfy.OpDelete
}

// roleRefusal refuses a permanent delete Tallyfy refuses for the caller's role, before the
// item is read or the person asked. Only deletes read the role: an archive or restore is
// refused here only when the role is already known, else Tallyfy's 403 answers it.
func (ts *Toolset) roleRefusal(ctx context.Context, c *call) (outcome, bool) {
	kind := c.kind.Kind
	op := OperationOf(c.tool.Verb)
	if tallyfy.RoleLight.May(op, kind).Permission != tallyfy.Refused {
		return outcome{}, false // refused for no role: nothing to read
	}
	var role tallyfy.Role // unknown ("", or not a documented role): May refuses it nothing
	if op == tallyfy.OpDelete {
		role = ts.roleOf(ctx, c.client)
	} else if r, fresh := ts.cachedRole(c.client); fresh {
		role = r
	}
	rule := role.May(op, kind)
	if rule.Permission != tallyfy.Refused {
		return outcome{}, false
	}
	who := "the Tallyfy user behind this server's token"
	if c.caller != "" {
		who = fmt.Sprintf("caller %q's Tallyfy user", c.caller)
	}
	return refused("role", mcp.NewToolResultError(fmt.Sprintf(
		"Refused before anything was asked or changed: %s is a %s member of this organization, and Tallyfy refuses them this (%s). Nothing was changed and no one was asked to confirm. Ask a Tallyfy administrator to do it.",
		who, Capitalize(string(role)), rule.Reason))), true
}

// hiddenForRole reports whether tools/list leaves t out for the caller's role: a single-item
// permanent delete Tallyfy refuses that role outright. Only tools/list hides it; a call by name still gets
// roleRefusal's answer with its reason.
func hiddenForRole(t Tool, role tallyfy.Role) bool {
	return !t.Bulk && t.Tier == TierPermanent && role.Known() && role.May(OperationOf(t.Verb), t.Kind).Permission == tallyfy.Refused
}
