// A task inside a process, through the built binary and the official TypeScript SDK: the
// task tools refuse it and show what the process holds (name, id, status, task count, titles)
// before naming archive_run or delete_run, which act on every task in it; a bulk plan's skip
// reason names the process and its count (issue 18 point 4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { startClient, textOf } from './lib.mjs';

// The sandbox's seed IDs: hex(md5("<kind>:<slug>")) (tallyfy/sandbox/seed.go).
const seedID = (kind, slug) => createHash('md5').update(`${kind}:${slug}`).digest('hex');
const processTask = seedID('task', 'jane-cooper-laptop-and-accounts');
const run = seedID('run', 'onboarding-jane-cooper');

describe('a task inside a process, through the binary', { concurrency: true }, () => {
  it('archive_task, restore_task and delete_task refuse it and list what the process holds', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    for (const tool of ['archive_task', 'restore_task', 'delete_task']) {
      const res = await c.call(tool, { task_id: processTask });
      const text = textOf(res);
      assert.strictEqual(res.isError, true, `${tool}: ${text}`);
      assert.ok(text.includes(`belongs to process "Onboarding - Jane Cooper" (${run}, status active)`), `${tool}: ${text}`);
      assert.ok(text.includes('It holds 3 tasks: "Sign employment contract", "Set up laptop and accounts", "Schedule first-week check-ins".'), `${tool}: ${text}`);
      assert.ok(text.includes(`archive_run or delete_run on process ${run} would act on all of them (3 tasks)`), `${tool}: ${text}`);
    }
    const got = await c.call('get_task', { task_id: processTask });
    assert.notStrictEqual(got.isError, true, textOf(got));
    assert.notEqual(got.structuredContent.task.archived, true, 'the refusals archived the task');
  });

  it('a bulk plan skips it with the process named and its task count', async (t) => {
    const c = await startClient({ t });
    const res = await c.call('bulk_archive', { type: 'task', ids: [processTask] });
    assert.notStrictEqual(res.isError, true, textOf(res));
    const [item] = res.structuredContent.items;
    assert.equal(item.outcome, 'skipped');
    assert.match(item.reason, new RegExp(`a task inside process "Onboarding - Jane Cooper" \\(${run}, status active\\), which holds 3 tasks`));
  });
});
