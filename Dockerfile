# syntax=docker/dockerfile:1
# A static, non-root image: docker run -i --rm -e TALLYFY_ACCESS_TOKEN -e TALLYFY_ORG_ID ghcr.io/tallyfy-mcp/tallyfy-mcp
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The version comes from the VERSION file unless --build-arg VERSION=… names another.
ARG VERSION=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -ldflags "-s -w -X main.version=${VERSION:-$(cat VERSION)}" -o /out/tallyfy-mcp . && \
    mkdir -p /out/audit
# The audit directory exists in the image, owned by the user the server runs as: a named volume
# mounted there starts with this owner, so the server can create its --audit-log file.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL io.modelcontextprotocol.server.name="io.github.tallyfy-mcp/tallyfy-mcp" \
      org.opencontainers.image.title="tallyfy-mcp" \
      org.opencontainers.image.description="MCP server to archive, restore and permanently delete Tallyfy tasks, processes and templates" \
      org.opencontainers.image.source="https://github.com/tallyfy-mcp/tallyfy-mcp"
COPY --from=build /out/tallyfy-mcp /usr/local/bin/tallyfy-mcp
COPY --from=build --chown=nonroot:nonroot /out/audit /var/log/tallyfy-mcp
USER nonroot:nonroot
# stdio by default; for HTTP: --transport http --addr 0.0.0.0:8080 with MCP_AUTH_TOKEN and TLS or --insecure-http behind a proxy
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tallyfy-mcp"]
