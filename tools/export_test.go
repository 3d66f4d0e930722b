package tools

import (
	"context"
	"errors"

	"github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/schemas"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// SelectPage lets tests run bulk selection (list_filter.go) as the bulk tools will: one page
// of a kind's items under the list tools' filters.
func SelectPage(ctx context.Context, c *tallyfy.Client, kind tallyfy.Kind, args schemas.ListArgs, status, templateID string, page, perPage int) ([]tallyfy.Entity, schemas.PageInfo, error) {
	f, bad := parseListFilter(args, status, templateID)
	if bad != nil {
		return nil, schemas.PageInfo{}, errors.New("bad filter")
	}
	items, info, _, err := itemKinds[kind].fetch(ctx, c, f, page, perPage)
	es := make([]tallyfy.Entity, len(items))
	for i, it := range items {
		es[i] = it.Entity()
	}
	return es, info, err
}

// ServerToolsUnjudged lets tests serve the tools without the judge (judge.go: the schema and
// the rate limit): what the stages after it check by themselves.
func (ts *Toolset) ServerToolsUnjudged() []server.ServerTool {
	out := ts.ServerTools()
	for i := range out {
		t, ok := ByName(out[i].Tool.Name)
		if !ok {
			t, _ = byName(appTools, out[i].Tool.Name)
		}
		out[i].Handler = ts.stages(t)
	}
	return out
}
