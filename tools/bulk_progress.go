package tools

import (
	"context"
	"sync"
	"time"

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

// settle gives the transport a moment to write the progress already sent before the call
// returns: on streamable HTTP, mcp-go's forwarder drops a notification it has taken from the
// session's channel but not yet written when the answer goes out. It waits until the channel
// is empty (at most 100 ms), then a few milliseconds for the forwarder's write.
func (p *progress) settle() {
	if p.token == nil || p.last == 0 {
		return
	}
	s := server.ClientSessionFromContext(p.ctx)
	if s == nil {
		return
	}
	ch := s.NotificationChannel()
	for end := time.Now().Add(100 * time.Millisecond); len(ch) > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond)
}
