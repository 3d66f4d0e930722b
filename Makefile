# tallyfy-mcp: see README.md. `make test` is what CI runs (through .ci/run).
VERSION ?= $(shell cat VERSION)
LDFLAGS := -s -w -X main.version=$(VERSION)
# grpcnotrace: gRPC (linked by the OTLP/HTTP exporters, never used) then leaves out golang.org/x/net/trace and the
# reflection it brings, so the linker can drop unused methods: 28 MB -> 18 MB (docs/performance.md).
TAGS    := grpcnotrace
BIN     := tallyfy-mcp
GO      ?= go
# A count, not a duration: a -fuzztime duration sometimes ends with a spurious "context
# deadline exceeded" from the fuzzing engine when a new input is being minimized at the deadline.
FUZZTIME ?= 5000x

.PHONY: build test unit e2e e2e-repeat fuzz run inspect install sandbox schemas lint bench bench-bulk measure loadtest pgo soak dist clean docs mcpb mcpb-manifest appview

# One set of build flags for build, run, install and the e2e binary, so the dependency tree is
# compiled once (a different -trimpath or -ldflags set recompiles all of it).
BUILDFLAGS := -trimpath -tags $(TAGS) -ldflags "$(LDFLAGS)"

build: ## static binary with the version stamped
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(BIN) .

install: ## the same static binary into $(go env GOBIN) or ~/go/bin, so README examples run as `tallyfy-mcp …`
	CGO_ENABLED=0 $(GO) install $(BUILDFLAGS) .

test: lint unit e2e fuzz dist ## everything CI checks, cross-builds included

# -pgo=off: the race-instrumented test binaries gain nothing from the profile, and building the
# dependency tree a second time with it costs CI minutes. The binary under test is built apart,
# with the profile, as `go build` does. -tags soak adds the 1,500-call soak
# (internal/blackbox/soak_test.go), which a plain `go test ./...` leaves out.
unit: ## Go tests, race detector on, the soak included
	$(GO) test -race -pgo=off -count=1 -tags soak ./...

e2e: e2e/node_modules/.package-lock.json ## the built binary driven by the official TypeScript SDK client
	cd e2e && npm test

# E2E_REPEAT runs of FILE (default bulk.test.mjs) while the rest of the suite runs beside it, to
# show a flake is gone rather than hope so: `make e2e-repeat E2E_REPEAT=50`.
E2E_REPEAT ?= 20
E2E_FILE ?= bulk.test.mjs
e2e-repeat: build e2e/node_modules/.package-lock.json ## FILE run E2E_REPEAT times in a row under load from the rest of the suite
	cd e2e && TALLYFY_MCP_BIN=../$(BIN) node repeat.mjs $(E2E_FILE) $(E2E_REPEAT)

# npm ci again whenever the lockfile is newer than what is installed.
e2e/node_modules/.package-lock.json: e2e/package-lock.json
	cd e2e && npm ci --no-audit --no-fund

fuzz: ## each fuzz target for $(FUZZTIME) executions
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

# run builds with make build's flags (one compile of the dependency tree, shared with build), its
# output on stderr: an MCP client may start `make run`, and stdout is JSON-RPC only.
SANDBOX_UNLESS_TOKEN = $(if $(TALLYFY_ACCESS_TOKEN)$(TALLYFY_TOKEN_FILE),,--sandbox)
run: ## the server on stdio (make build's binary); on the built-in sandbox unless TALLYFY_ACCESS_TOKEN is set
	@$(MAKE) -s --no-print-directory build >&2
	@exec ./$(BIN) $(SANDBOX_UNLESS_TOKEN)

inspect: build e2e/node_modules/.package-lock.json ## the MCP Inspector's web UI on this server over stdio (on the sandbox unless TALLYFY_ACCESS_TOKEN is set)
	cd e2e && node inspect.mjs ../$(BIN) $(SANDBOX_UNLESS_TOKEN)

sandbox: ## only the demo Tallyfy REST API on 127.0.0.1:8081
	$(GO) run . sandbox --addr 127.0.0.1:8081

schemas: ## regenerate schemas/*.json and the tool snapshots
	$(GO) generate ./schemas/
	UPDATE_TOOLSNAPS=true $(GO) test ./tools/ -run Snap -count=1

# golangci-lint v2 with .golangci.yml (errcheck, govet, staticcheck, unused, revive, gofmt…),
# installed through the Go toolchain into $(LINT_BIN) when that version is missing.
GOLANGCI_LINT_VERSION := v2.15.0
LINT_BIN := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
GOLANGCI_LINT := $(LINT_BIN)/golangci-lint

lint: ## golangci-lint (pinned; installed when missing) with .golangci.yml, then go vet with the soak tag
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q ' $(GOLANGCI_LINT_VERSION:v%=%) ' || \
	  { echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; GOBIN=$(LINT_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); }
	$(GOLANGCI_LINT) run --allow-serial-runners ./...
	$(GO) vet -tags soak ./...

# The TypeScript-SDK peer (e2e/bench-peer.mjs, checked by e2e/bench-peer.test.mjs) runs on node
# with e2e's SDK, hence the npm ci prerequisite. BENCH_BASE=other-build also times that build over
# stdio, side by side with this one (e.g. a build of an earlier revision).
bench: build e2e/node_modules/.package-lock.json ## Go benchmarks, then the table of cold start (beside a TypeScript-SDK peer), per-call latency against the floor, RSS and tools/list size (docs/performance.md keeps it between its bench markers)
	$(GO) test -pgo=$(CURDIR)/default.pgo -run '^$$' -bench . -benchmem ./...
	$(GO) run -pgo=$(CURDIR)/default.pgo ./internal/bench -bin ./$(BIN) -peer e2e/bench-peer.mjs $(if $(BENCH_BASE),-base-bin $(BENCH_BASE))

# REV=a4b83d4 measures that revision in a throwaway git worktree instead of the working tree.
measure: ## issue 19's shape figures: product lines and files per package, wrappers on /mcp, methods on the largest types, duplicates pairs
	internal/bench/measure.sh $(REV)

bench-bulk: ## bulk_archive of 100 processes against a sandbox with 50 ms latency and 20 requests/s (figures in docs/performance.md); fails over 1.15 × the rate floor or on any 429
	$(GO) run ./internal/bulkbench -tallyfy-rate 18

soak: ## 10,000 tool calls with ~10% injected faults through the stdio binary (figures in docs/reliability.md, between its soak markers)
	SOAK_CALLS=10000 $(GO) test -tags soak -run '^TestSoak$$' -count=1 -v ./internal/blackbox/

loadtest: ## 200 concurrent streamable-HTTP sessions against the in-process sandbox (fails when a target is missed)
	$(GO) run -pgo=$(CURDIR)/default.pgo ./internal/loadtest -sessions 200 -duration 10s

# Profile-guided optimization: `go build` and `go install` use default.pgo (the main package's
# profile) on their own; the load test and the benchmarks build the server into other main
# packages, so they name it. Refresh the profile after changes to the hot path.
pgo: ## refresh default.pgo from the HTTP load test and the in-process benchmarks (a non-PGO build profiles)
	@rm -rf .pgo && mkdir -p .pgo
	$(GO) run -pgo=off ./internal/loadtest -sessions 200 -duration 30s -floor 0 -check=false -cpuprofile .pgo/load.prof
	$(GO) test -pgo=off -run '^$$' -bench InProcess -benchtime 5s -cpuprofile .pgo/inproc.prof -o .pgo/bench.test ./internal/bench/
	$(GO) tool pprof -proto .pgo/load.prof .pgo/inproc.prof > default.pgo
	@rm -rf .pgo

dist: ## cross-compiled static binaries for Linux, macOS and Windows
	@mkdir -p dist
	@for t in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64; do \
	  os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "dist/$(BIN)-$$os-$$arch$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(BUILDFLAGS) -o dist/$(BIN)-$$os-$$arch$$ext . || exit 1; \
	done

clean:
	rm -rf $(BIN) dist e2e/.bin

docs: ## regenerate the README's tool and flag tables
	$(GO) run ./internal/docs/gen README.md

appview: ## rebuild tools/appview/delete-review.html, the MCP App view embedded in the binary (needs npm ci in e2e/)
	node tools/appview/build.mjs

mcpb-manifest: ## refresh manifest.json's tool list from a live tools/list
	$(GO) run ./internal/packaging/gen .

mcpb: mcpb-manifest e2e/node_modules/.package-lock.json ## pack dist/tallyfy-mcp.mcpb (Claude Desktop one-click install) for this machine's OS/arch
	rm -rf dist/mcpb && mkdir -p dist/mcpb/server
	cp manifest.json dist/mcpb/
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o dist/mcpb/server/$(BIN)$(if $(filter windows,$(shell $(GO) env GOOS)),.exe,) .
	cd e2e && npx mcpb validate ../dist/mcpb/manifest.json && npx mcpb pack ../dist/mcpb ../dist/tallyfy-mcp.mcpb
