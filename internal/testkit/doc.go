// Package testkit holds the fixtures that the server package's in-process tests and the
// black-box tests in internal/blackbox share: mcp-go clients on each transport at each protocol
// era, a sandbox the tests can see into, tool-call and result helpers, raw HTTP posts, health
// waits and audit-log reading. Starting the built binary is internal/harness's job.
package testkit
