package server

import "strings"

// Where this server depends on mcp-go's message text rather than an API: mcp-go (v1.6.0 still) has no
// hook for an input validation failure, only a tool result whose text starts with this
// prefix. TestMCPGoGap_ValidationFailureIsOnlyText (mcpgo_text_test.go) fails if mcp-go changes it.
const mcpgoValidationPrefix = "input schema validation failed"

// isValidationFailure reports whether a tool result's text is mcp-go's input validation
// failure.
func isValidationFailure(text string) bool { return strings.HasPrefix(text, mcpgoValidationPrefix) }
