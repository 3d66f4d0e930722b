// `make e2e-repeat`: run one test file N times in a row while the other test files run beside
// it, over and over, as load. A flake shows up as a failed run; the count of passes is the figure
// to quote. Usage: node repeat.mjs FILE.test.mjs N   (TALLYFY_MCP_BIN names the built binary)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { E2E_DIR } from './lib.mjs';

const [file, nArg] = process.argv.slice(2);
const n = Number(nArg) || 20;
if (!file || !process.env.TALLYFY_MCP_BIN) {
  console.error('usage: TALLYFY_MCP_BIN=../tallyfy-mcp node repeat.mjs FILE.test.mjs N');
  process.exit(2);
}
const timeout = `--test-timeout=${Number(process.env.E2E_TIMEOUT_MS) || 120_000}`;
const others = readdirSync(E2E_DIR).filter((f) => f.endsWith('.test.mjs') && f !== file).sort();

function runNode(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', timeout, ...args], { cwd: E2E_DIR, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => resolve({ code, out }));
  });
}

let done = false;
const load = (async () => {
  let rounds = 0;
  while (!done) {
    await runNode(['--test-concurrency=2', ...others]);
    rounds++;
  }
  return rounds;
})();

let passed = 0;
for (let i = 1; i <= n; i++) {
  const { code, out } = await runNode([file]);
  if (code === 0) passed++;
  else console.error(`run ${i}: FAILED\n${out.split('\n').filter((l) => /not ok|Error|!==|expected/i.test(l)).slice(0, 20).join('\n')}`);
  console.error(`run ${i}/${n}: ${code === 0 ? 'ok' : 'FAILED'}`);
}
done = true;
const rounds = await load;
console.log(`${file}: ${passed} passed, ${n - passed} failed (with the other ${others.length} files running beside it, ${rounds} rounds)`);
process.exit(passed === n ? 0 : 1);
