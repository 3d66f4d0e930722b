package tools

import (
	"context"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// progress sends notifications/progress after each item of a bulk call whose request carried
// a progressToken (and nothing otherwise).
type progress struct {
	ctx   context.Context
	token mcp.ProgressToken
	total int
	mu    sync.Mutex // progress values must increase: sends are serialized
	last  int
}

func newProgress(ctx context.Context, req mcp.CallToolRequest, total int) *progress {
	p := &progress{ctx: ctx, total: total}
	if req.Params.Meta != nil {
		p.token = req.Params.Meta.ProgressToken
	}
	return p
}

// send reports done of total items, with a short message about the last one.
func (p *progress) send(done int, message string) {
	if p.token == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done <= p.last {
		return
	}
	p.last = done
	srv := server.ServerFromContext(p.ctx)
	if srv == nil {
		return
	}
	// Best effort: a full or closed channel must not stop the batch.
	_ = srv.SendNotificationToClient(p.ctx, "notifications/progress", map[string]any{
		"progressToken": p.token, "progress": done, "total": p.total, "message": message,
	})
}
