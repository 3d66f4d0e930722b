// Bulk lifecycle through the binary: one plan, one execute, one confirmation by the person.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { readFileSync } from 'node:fs';
import path from 'node:path';

import { ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { startClient, listRuns, textOf, tempDir } from './lib.mjs';

/** Archives two live runs with bulk_archive (plan, then execute) and returns their ids. */
async function archiveTwoRuns(c) {
  const live = (await listRuns(c)).slice(0, 2).map((r) => r.id);
  assert.equal(live.length, 2, 'fewer than 2 live runs in the demo data');
  const plan = await c.call('bulk_archive', { type: 'run', ids: live });
  assert.ok(!plan.isError, textOf(plan));
  assert.equal(plan.structuredContent.status, 'planned');
  assert.ok((await listRuns(c)).some((r) => r.id === live[0]), 'the plan call archived something');
  const done = await c.call(plan.structuredContent.execute.tool, plan.structuredContent.execute.arguments);
  assert.ok(!done.isError, textOf(done));
  assert.equal(done.structuredContent.totals.ok, 2, textOf(done));
  assert.equal(done.structuredContent.undo.tool, 'bulk_restore');
  return live;
}

const isArchived = async (c, id) => (await listRuns(c, 'only')).some((r) => r.id === id);

describe('bulk', { concurrency: true }, () => {
  it('deletes a plan of archived runs once the person types the count, asked once', async (t) => {
    const asked = [];
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const audit = path.join(dir, 'audit.jsonl');
    const started = Date.now();
    const c = await startClient({
      t,
      args: ['--sandbox', '--audit-log', audit],
      capabilities: { elicitation: {} },
      onElicit: async (req) => {
        asked.push(req.params);
        return { action: 'accept', content: { count: '2' } };
      },
    });
    const ids = await archiveTwoRuns(c);
    const plan = await c.call('bulk_delete', { type: 'run', ids });
    assert.ok(!plan.isError, textOf(plan));
    assert.equal(plan.structuredContent.totals.planned, 2);
    assert.equal(asked.length, 0, 'the plan call asked the person');
    const done = await c.call('bulk_delete', plan.structuredContent.execute.arguments);
    assert.ok(!done.isError, textOf(done));
    assert.equal(asked.length, 1, 'the person was not asked exactly once');
    assert.match(asked[0].message, /Permanently delete 2 archived processes/);
    assert.ok(asked[0].requestedSchema.properties.count, 'the question does not ask for the count');
    assert.equal(done.structuredContent.totals.ok, 2, textOf(done));
    for (const id of ids) {
      assert.equal((await c.call('get_run', { run_id: id })).isError, true, `run ${id} is still there`);
    }
    // The plan_token works once.
    const again = await c.call('bulk_delete', plan.structuredContent.execute.arguments);
    assert.equal(again.isError, true, textOf(again));
    // The signed approval record says when the plan was asked for (a plan's record once said 1970).
    const approvals = readFileSync(audit, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)).filter((r) => r.approval);
    assert.equal(approvals.length, 1, 'one signed approval record for the plan');
    const { requested_at: requested, decided_at: decided } = approvals[0].approval;
    assert.ok(Date.parse(requested) >= started - 2000 && Date.parse(requested) <= Date.parse(decided), `requested_at ${requested}, decided_at ${decided}`);
  });

  it('deletes nothing when the person declines', async (t) => {
    const c = await startClient({ t, capabilities: { elicitation: {} }, onElicit: async () => ({ action: 'decline' }) });
    const ids = await archiveTwoRuns(c);
    const plan = await c.call('bulk_delete', { type: 'run', ids });
    const res = await c.call('bulk_delete', plan.structuredContent.execute.arguments);
    assert.equal(res.structuredContent?.status, 'cancelled', textOf(res));
    assert.match(textOf(res), /nothing was deleted/i);
    for (const id of ids) assert.ok(await isArchived(c, id), `run ${id} left the archived list`);
  });

  it('sends progress notifications, one per item, for the call that asked', async (t) => {
    const c = await startClient({ t });
    const runs = (await listRuns(c)).slice(0, 3);
    const live = runs.map((r) => r.id);
    const plan = await c.call('bulk_archive', { type: 'run', ids: live });
    // The SDK handles notifications a microtask after responses, so its onprogress misses
    // progress read in the same chunk as the answer: watch the notifications themselves.
    const seen = [];
    c.client.setNotificationHandler(ProgressNotificationSchema, (n) => { seen.push(n.params); });
    const res = await c.client.callTool({
      name: 'bulk_archive',
      arguments: plan.structuredContent.execute.arguments,
      _meta: { progressToken: 'bulk-progress' },
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(!res.isError, textOf(res));
    assert.equal(seen.length, live.length, `progress: ${JSON.stringify(seen)}`);
    assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3]);
    assert.ok(seen.every((p) => p.total === live.length && p.progressToken === 'bulk-progress'));
    // Each message names its item by name, then ID, so a person watching knows what was done.
    for (const r of runs) {
      assert.ok(seen.some((p) => p.message === `archive ${JSON.stringify(r.name)} (${r.id}): ok`), `no progress message names ${r.name}: ${JSON.stringify(seen.map((p) => p.message))}`);
    }
  });
});
