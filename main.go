// Command tallyfy-mcp is an MCP server through which AI agents look up, archive, restore and
// permanently delete Tallyfy one-off tasks, processes and templates.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tallyfy-mcp/tallyfy-mcp/auditlog"
	"github.com/tallyfy-mcp/tallyfy-mcp/preflight"
	"github.com/tallyfy-mcp/tallyfy-mcp/server"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy/sandbox"
)

// version is stamped by `make build` (-ldflags "-X main.version=…").
var version = "dev"

func main() { os.Exit(run(os.Args[1:])) }

// run dispatches: a subcommand (sandbox, check, audit, help, version) or the server itself.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if server.ExitWithParentFromEnv(os.Getenv) {
		ctx = server.WatchParent(ctx)
	}
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "sandbox":
		logger := server.NewLogger(os.Stderr, "info", "text")
		if err := sandbox.Command(ctx, args[1:], logger, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "tallyfy-mcp sandbox:", err)
			return 1
		}
		return 0
	case "approvals":
		return auditlog.Approvals(args[1:], os.Getenv, os.Stdout, os.Stderr)
	case "check":
		return preflight.Command(ctx, args[1:], server.CheckSetup(os.Getenv, os.Stderr), os.Stdin, os.Stdout, os.Stderr)
	case "audit":
		return auditlog.Command(args[1:], os.Stdout, os.Stderr)
	case "help":
		server.PrintHelp(os.Stdout)
		return 0
	case "version":
		fmt.Fprintln(os.Stdout, "tallyfy-mcp", version)
		return 0
	}
	cfg, err := server.ParseConfig(args, os.Getenv, os.Stderr)
	if errors.Is(err, server.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tallyfy-mcp:", err)
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintln(os.Stdout, "tallyfy-mcp", version)
		return 0
	}
	if cfg.ExitWithParent {
		ctx = server.WatchParent(ctx)
	}
	cfg.Version = version
	logger := server.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	app, err := server.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tallyfy-mcp:", err)
		return 1
	}
	defer app.Close()
	if cfg.Transport == "stdio" && server.IsTerminal(os.Stdin) {
		fmt.Fprintln(os.Stderr, server.TerminalHint)
	}
	if err := app.Serve(ctx, os.Stdin, os.Stdout); err != nil {
		logger.Error("server stopped", "err", err)
		return 1
	}
	return 0
}
