#!/usr/bin/env bash
# measure.sh [REV]: the shape figures of issue 19 point 7 for the working tree, or for git
# revision REV (checked out in a throwaway worktree, removed afterwards). `make measure [REV=…]`.
#   - product (non-test) Go lines and files per package (internal/ is dev tooling: listed, not
#     counted in the product total);
#   - the wrappers around the /mcp route: the calls on its registration line (MCP_ROUTE, an
#     extended regex, picks the line when the route is registered otherwise; the line is printed
#     so that the count can be checked);
#   - methods on the largest types (receivers `func (x T)` / `func (x *T)` per package and type);
#   - the pairs `duplicates` finds in the tree (its first line).
set -euo pipefail

rev=${1:-}
root=$(git rev-parse --show-toplevel)
if [[ -n $rev ]]; then
  tmp=$(mktemp -d)
  git -C "$root" worktree add --quiet --detach "$tmp/tree" "$rev"
  trap 'git -C "$root" worktree remove --force "$tmp/tree"; rm -rf "$tmp"' EXIT
  tree=$tmp/tree
  echo "## $(git -C "$tree" log -1 --format='%h %s' | cut -c1-100)"
else
  tree=$root
  echo "## working tree at $(git -C "$tree" log -1 --format='%h' ) $(git -C "$tree" status --porcelain | grep -q . && echo '(with uncommitted changes)')"
fi
cd "$tree"

# Non-test Go files git knows (tracked, or untracked and not ignored), outside e2e/.
product_files() {
  git ls-files --cached --others --exclude-standard -- '*.go' ':!:*_test.go' ':!:e2e/**' | sort
}

echo
echo "| package | files | lines |"
echo "|---|---|---|"
product_files | xargs wc -l | grep -v ' total$' | awk '
  { n = split($2, p, "/"); dir = "."; if (n > 1) { dir = p[1]; for (i = 2; i < n; i++) dir = dir "/" p[i] }
    files[dir]++; lines[dir] += $1
    if (dir !~ /^internal(\/|$)/) { pf++; pl += $1 } else { df++; dl += $1 } }
  END {
    for (d in files) printf "| %s | %d | %d |\n", d, files[d], lines[d] | "sort -t\"|\" -k4,4nr"
    close("sort -t\"|\" -k4,4nr")
    printf "| **product total** (outside internal/) | %d | %d |\n", pf, pl
    printf "| dev tooling (internal/) | %d | %d |\n", df, dl }'

echo
route=${MCP_ROUTE:-'\.Handle(Func)?\("/mcp"'}
line=$(product_files | grep -v '^internal/' | xargs grep -nE "$route" | head -1 || true)
if [[ -z $line ]]; then
  echo "wrappers on /mcp: no line matches MCP_ROUTE='$route'"
else
  # Calls on the registration line, but for the registration itself and function literals.
  calls=$(sed -E 's/^[^:]*:[0-9]+://' <<<"$line" | grep -oE '[A-Za-z_][A-Za-z0-9_.]*\(' | grep -cvE '(^|\.)(Handle|HandleFunc|func)\($' || true)
  echo "wrappers on /mcp: $calls"
  echo '```'
  cut -c1-300 <<<"$line"
  echo '```'
fi

echo
echo "| type (package) | methods |"
echo "|---|---|"
product_files | xargs grep -hoE --with-filename '^func \([A-Za-z_][A-Za-z0-9_]* \*?[A-Za-z_][A-Za-z0-9_]*' |
  sed -E 's#^(.*)/[^/]*\.go:func \([^ ]+ \*?#\1 #; s#^[^/ ]*\.go:func \([^ ]+ \*?#. #' |
  awk '{ print $2 " (" $1 ")" }' | sort | uniq -c | sort -k1,1nr -k2 | head -5 |
  awk '{ c = $1; $1 = ""; sub(/^ /, ""); printf "| %s | %d |\n", $0, c }'

echo
echo "duplicates: $(duplicates --repo . --seconds 120 | head -1)"
