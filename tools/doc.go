// Package tools declares every MCP tool of tallyfy-mcp in one table (table.go) and serves them
// all through one pipeline (pipeline.go): policy, arguments, guards, resolve, the verb, and the
// audit record. The tools differ only in kind (kinds.go) and verb (kinds.go, lifecycle.go, delete.go).
// It also asks for confirmation of permanent deletes (channel.go; tokens, pending approvals
// and signed records in the confirm sub-package), the
// policy checks (policy.go), error-to-result mapping (errors.go) and audit records (the audit
// sub-package).
package tools
