// `make inspect`: the MCP Inspector's web UI (@modelcontextprotocol/inspector, pinned) on the
// server over stdio, to try the tools by hand. The Inspector needs Node ≥ 22.19 (lib.mjs node22).
// Usage: node inspect.mjs BINARY [server args…]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { node22, packageBin } from './lib.mjs';

const [bin, ...args] = process.argv.slice(2);
if (!bin) {
  console.error('usage: node inspect.mjs BINARY [server args…]');
  process.exit(2);
}
const { node, why } = node22();
if (!node) {
  console.error(`make inspect: the MCP Inspector ${why}`);
  process.exit(1);
}
const child = spawn(node, [packageBin('@modelcontextprotocol/inspector', 'mcp-inspector'), path.resolve(bin), ...args], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('close', (code, signal) => process.exit(signal ? 1 : code ?? 1));
