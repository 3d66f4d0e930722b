// Command gen refreshes manifest.json's tool list (from a live tools/list) and version.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tallyfy-mcp/tallyfy-mcp/internal/packaging"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := packaging.UpdateManifest(context.Background(), root); err != nil {
		fmt.Fprintln(os.Stderr, "packaging:", err)
		os.Exit(1)
	}
}
