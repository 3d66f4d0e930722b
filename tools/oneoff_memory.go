package tools

import (
	"sync"

	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// oneOffMemory remembers which tasks are one-off, per organization, from every read of a task
// (get, list, look-up). A task's one-off nature never changes (docs/tallyfy-api.md §2.1: it
// is created one-off or inside a process), so a task archive or restore may go out without
// reading the task first once it is known one-off: the process-task refusal must be decided
// before the change is sent, and this is what lets it be decided without a round trip. A task
// never read before is read first. Only "one-off" is remembered: a process task is refused
// after a fresh read, which names its process.
type oneOffMemory struct {
	mu   sync.Mutex
	seen map[string]struct{} // org + "/" + task id
}

// oneOffMemoryMax bounds the memory; past it, it starts again (a forgotten task is read first).
const oneOffMemoryMax = 50_000

func (m *oneOffMemory) learn(org string, es ...tallyfy.Entity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range es {
		if e.Kind != tallyfy.KindTask || !e.OneOff || !tallyfy.ValidID(e.ID) {
			continue
		}
		if m.seen == nil || len(m.seen) >= oneOffMemoryMax {
			m.seen = map[string]struct{}{}
		}
		m.seen[org+"/"+e.ID] = struct{}{}
	}
}

func (m *oneOffMemory) known(org, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.seen[org+"/"+id]
	return ok
}
