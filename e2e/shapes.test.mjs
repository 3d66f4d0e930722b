// The response shapes Tallyfy's own published sources show (tallyfy/testdata/contract), served
// by the built-in sandbox and read through the built binary: run progress as an object, a
// one-off task created once per assignee that carries a run_id, template list items without
// archived_at.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, activeRun, archivedTemplate, listTasks, listTemplates, textOf } from './lib.mjs';

async function ok(c, tool, args) {
  const res = await c.call(tool, args);
  assert.ok(!res.isError, `${tool}: ${textOf(res)}`);
  return res;
}

describe('shapes from Tallyfy\'s published sources, through the binary', { concurrency: true }, () => {
  it('get_run reads progress from its {complete, total, percent} object', async (t) => {
    const c = await startClient({ t });
    const run = await activeRun(c);
    const res = await ok(c, 'get_run', { run_id: run.id });
    const p = res.structuredContent.run.progress;
    assert.equal(typeof p, 'number', `progress ${JSON.stringify(p)} is not a number`);
    assert.ok(p > 0 && p < 100, `progress ${p} of an active run`);
    assert.match(textOf(res), new RegExp(`${Math.round(p)}% done`));
    // archive_run's answer carries progress as a bare number: it decodes too.
    const archived = await ok(c, 'archive_run', { run_id: run.id });
    assert.strictEqual(archived.structuredContent.changed, true);
    assert.equal(archived.structuredContent.resource.state, 'archived');
    await ok(c, 'activate_run', { run_id: run.id });
  });

  it('archives, restores and deletes a per-assignee one-off task that carries a run_id', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const tasks = await listTasks(c, 'exclude');
    const task = tasks.find((x) => x.one_off && x.run_id);
    assert.ok(task, `no one-off task with a run_id among ${JSON.stringify(tasks.map((x) => [x.title, x.run_id]))}`);
    const got = await ok(c, 'get_task', { task_id: task.id });
    assert.strictEqual(got.structuredContent.task.one_off, true);
    assert.doesNotMatch(textOf(got), /inside process/, 'get_task calls it a process task');

    const a = await ok(c, 'archive_task', { task_id: task.id });
    assert.strictEqual(a.structuredContent.changed, true);
    assert.equal(a.structuredContent.resource.state, 'archived');
    assert.ok((await listTasks(c, 'only')).some((x) => x.id === task.id), 'not among archived tasks');
    const r = await ok(c, 'restore_task', { task_id: task.id });
    assert.strictEqual(r.structuredContent.changed, true);
    assert.equal(r.structuredContent.resource.state, 'live');

    await ok(c, 'archive_task', { task_id: task.id });
    const first = await ok(c, 'delete_task', { task_id: task.id });
    assert.equal(first.structuredContent.status, 'confirmation_required');
    const second = await ok(c, 'delete_task', { task_id: task.id, confirm_token: first.structuredContent.confirm_token });
    assert.equal(second.structuredContent.status, 'deleted');
    assert.strictEqual((await c.call('get_task', { task_id: task.id })).isError, true, 'the task is still there');
  });

  it('restores an archived template whose list item has no archived_at; an include listing labels it from the archived listing', async (t) => {
    const c = await startClient({ t });
    const tpl = await archivedTemplate(c);
    const incl = await listTemplates(c, 'include');
    const mixed = incl.find((x) => x.id === tpl.id);
    assert.ok(mixed, 'the archived template is not in the include listing');
    // The list item carries no archived_at: the label comes from the archived listing read alongside.
    assert.strictEqual(mixed.archived, true, 'an include listing did not label the archived template');
    for (const x of incl) {
      const got = await ok(c, 'get_template', { template_id: x.id });
      assert.strictEqual(x.archived, got.structuredContent.template.archived, `${x.id}: the include label disagrees with get_template`);
    }

    const res = await ok(c, 'restore_template', { template_id: tpl.id });
    assert.strictEqual(res.structuredContent.changed, true, 'restore_template took the archived template for live');
    assert.equal(res.structuredContent.resource.state, 'live');
    const now = await ok(c, 'get_template', { template_id: tpl.id });
    assert.strictEqual(now.structuredContent.template.archived, false);
  });
});
