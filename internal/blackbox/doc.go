// Package blackbox holds the Go tests that drive the built binary from outside, as a client
// and an operator would: harness.Main builds it once in TestMain and harness.Start drives it
// as a subprocess with the mcp-go client over its stdin/stdout pipes. Every byte the child
// writes to stdout is kept (so it can be checked to be pure JSON-RPC afterwards) and so is
// everything it writes to stderr. Each test points the child at its own in-test sandbox
// (sandbox.Listen on loopback). Tests of the binary serving HTTP run it with harness.Run and
// connect with internal/testkit's clients, which the server package's in-process tests use too.
package blackbox
