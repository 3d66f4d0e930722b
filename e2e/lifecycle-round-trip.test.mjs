// One round trip per single archive or restore (tools/lifecycle_at_once.go): the built binary
// against `tallyfy-mcp sandbox --latency`, paced as toward Tallyfy (--tallyfy-rate default),
// counting the requests the sandbox received.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, startSandbox, textOf } from './lib.mjs';

/** Ends the sandbox and returns how many requests it received. */
async function requestsSeen(sb) {
  sb.child.kill('SIGTERM');
  await sb.exited;
  const m = sb.stderr().match(/sandbox: stopped.* requests=(\d+)/);
  assert.ok(m, `no totals in the sandbox's log:\n${sb.stderr()}`);
  return Number(m[1]);
}

/** Runs calls against a fresh server on a fresh sandbox; returns the results and the requests. */
async function session(t, calls) {
  const sb = await startSandbox({ extraArgs: ['--latency', '50ms'], t });
  const c = await startClient({ args: [...sb.serverArgs], env: sb.serverEnv, t });
  const out = [];
  for (const [name, args] of calls) {
    const started = Date.now();
    const res = await c.call(name, typeof args === 'function' ? args(out) : args);
    assert.ok(!res.isError, `${name}: ${textOf(res)}`);
    out.push({ res, ms: Date.now() - started });
  }
  await c.close();
  return { out, requests: await requestsSeen(sb) };
}

test('archive_run sends one request, activate_run reads then changes; no-ops stay truthful', async (t) => {
  const runId = (out) => ({ run_id: out[0].res.structuredContent.runs[0].id });
  const base = await session(t, [['list_runs', {}]]);
  const { out, requests } = await session(t, [
    ['list_runs', {}],
    ['archive_run', runId], // DELETE
    ['archive_run', runId], // DELETE (404: already archived), then a read settles the no-op
    ['activate_run', runId], // GET (archived), then PUT
    ['activate_run', runId], // GET (live): the no-op is decided from the read, nothing is sent
  ]);
  assert.equal(requests - base.requests, 1 + 2 + 2 + 1, `the sandbox saw ${requests - base.requests} requests for the four calls`);
  const [, archived, again, activated, noop] = out.map((o) => o.res.structuredContent);
  assert.equal(archived.changed, true);
  assert.equal(archived.resource.state, 'archived');
  assert.equal(again.changed, false);
  assert.match(textOf(out[2].res), /already archived/);
  assert.equal(activated.changed, true);
  assert.equal(activated.resource.state, 'live');
  assert.equal(noop.changed, false);
  assert.match(textOf(out[4].res), /already live/);
  for (const r of [archived, again, activated, noop]) assert.equal(r.resource.name, out[0].res.structuredContent.runs[0].name);
  // Timings (paced at the default 9 a second, so back-to-back calls may wait for the bucket).
  t.diagnostic(`archive_run ${out[1].ms} ms, activate_run ${out[3].ms} ms at 50 ms a request`);
});
