// Pacing toward Tallyfy's rate limit: the built binary, driven by the SDK client over stdio,
// against `tallyfy-mcp sandbox --rate-limit` (a per-token limit answered with 429, as Tallyfy's).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, startSandbox } from './lib.mjs';


/** Ends the sandbox and returns its exit totals: requests received and refused with 429. */
async function sandboxTotals(sb) {
  sb.child.kill('SIGTERM');
  await sb.exited;
  const m = sb.stderr().match(/sandbox: stopped.* requests=(\d+) rate_limited=(\d+)/);
  assert.ok(m, `no totals in the sandbox's log:\n${sb.stderr()}`);
  return { requests: Number(m[1]), refused: Number(m[2]) };
}

test('--tallyfy-rate 3 under a sandbox limit of 5 a second: a burst of reads, none refused', async (t) => {
  const sb = await startSandbox({ extraArgs: ['--rate-limit', '5', '--latency', '20ms'], t });
  const c = await startClient({ args: [...sb.serverArgs, '--tallyfy-rate', '3'], env: sb.serverEnv, t });
  const first = await c.call('list_runs', {});
  assert.ok(!first.isError, JSON.stringify(first.content));
  const runs = first.structuredContent.runs.map((r) => r.id);
  assert.ok(runs.length >= 4, `list_runs gave ${runs.length} runs`);
  const calls = [
    ...runs.slice(0, 6).map((id) => ['get_run', { run_id: id }]),
    ['list_tasks', {}], ['list_templates', {}], ['list_runs', { archived: 'include' }],
  ];
  const started = Date.now();
  const results = await Promise.all(calls.map(([name, args]) => c.call(name, args)));
  const took = Date.now() - started;
  results.forEach((r, i) => assert.ok(!r.isError, `${calls[i][0]}: ${JSON.stringify(r.content)}`));
  await c.close();
  const { requests, refused } = await sandboxTotals(sb);
  assert.ok(requests >= calls.length + 1, `the sandbox saw ${requests} requests for ${calls.length + 1} calls`);
  assert.equal(refused, 0, `paced at 3/s under 5/s, the sandbox refused ${refused} of ${requests} requests`);
  // 9 calls at once, 2 leave together, then one every 1/3 s: pacing took time.
  assert.ok(took >= 2000, `${calls.length} concurrent calls finished in ${took} ms: not paced at 3/s`);
});
