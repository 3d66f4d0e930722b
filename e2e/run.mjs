// `npm test`: build the server once, then run every *.test.mjs with Node's test runner, handing
// the binary to each test process through TALLYFY_MCP_BIN. Extra arguments go to `node --test`
// (e.g. `npm test -- --test-name-pattern=elicit`). TALLYFY_MCP_BIN set by the caller skips the build.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { buildBinary, DEFAULT_BIN, E2E_DIR } from './lib.mjs';

console.error(`e2e: Node ${process.version} (${process.execPath})`);
let bin = process.env.TALLYFY_MCP_BIN;
if (bin) {
  bin = path.resolve(bin);
  console.error(`e2e: testing ${bin} (TALLYFY_MCP_BIN)`);
} else {
  const t0 = Date.now();
  bin = buildBinary(DEFAULT_BIN);
  console.error(`e2e: built ${path.relative(process.cwd(), bin) || bin} in ${Date.now() - t0} ms`);
}

// A generous per-test timeout: a busy machine (CI on 2 cores, other builds beside it) makes
// servers slow to start, and a timeout there says nothing about the code. E2E_TIMEOUT_MS sets it.
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS) || 120_000;
const files = readdirSync(E2E_DIR).filter((f) => f.endsWith('.test.mjs') && !process.argv.slice(2).some((a) => a.endsWith('.test.mjs'))).sort();
const child = spawn(process.execPath, [
  '--test',
  '--test-concurrency=4', // files run in parallel (the default is CPUs-1, i.e. 1 on small runners)
  `--test-timeout=${timeoutMs}`,
  ...process.argv.slice(2),
  ...files,
], { cwd: E2E_DIR, stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, TALLYFY_MCP_BIN: bin } });
// Pass the runner's report through, and notice a test that ran out of time.
let timedOut = false;
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  if (/timed out after \d+ms|test timed out/i.test(d.toString('utf8'))) timedOut = true;
});
child.on('close', (code, signal) => {
  if (timedOut) {
    console.error(`e2e: a test ran out of its ${timeoutMs} ms. Machine busy? Rerun with E2E_TIMEOUT_MS=${timeoutMs * 2} npm test (or make e2e), or the file alone: npm test -- FILE.test.mjs`);
  }
  process.exit(signal ? 1 : code);
});
