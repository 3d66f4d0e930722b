// 2. Archive then restore a run; 4. a permanent delete of a live run is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, activeRun, nonActiveLiveRun, listRuns, textOf } from './lib.mjs';

async function getRun(c, id) {
  const res = await c.call('get_run', { run_id: id });
  assert.ok(!res.isError, `get_run: ${textOf(res)}`);
  return res.structuredContent.run;
}

/** Archives run, checks every promise of the result, activates it again, checks it came back. */
async function archiveAndRestore(c, run) {
  const archived = await c.call('archive_run', { run_id: run.id });
  assert.ok(!archived.isError, `archive_run: ${textOf(archived)}`);
  const a = archived.structuredContent;
  assert.equal(a.action, 'archive');
  assert.strictEqual(a.changed, true);
  assert.strictEqual(a.reversible, true);
  assert.equal(a.undo.tool, 'activate_run');
  assert.deepEqual(a.undo.arguments, { run_id: run.id });
  assert.equal(a.resource.type, 'run');
  assert.equal(a.resource.id, run.id);
  assert.equal(a.resource.name, run.name);
  assert.equal(a.resource.state, 'archived');
  assert.match(textOf(archived), /activate_run/, 'the text copy names the way back');

  const seen = await getRun(c, run.id);
  assert.strictEqual(seen.archived, true, 'get_run does not show it archived');
  assert.ok(!(await listRuns(c, 'exclude')).some((r) => r.id === run.id), 'still among live runs');
  assert.ok((await listRuns(c, 'only')).some((r) => r.id === run.id), 'not among archived runs');

  // Archiving again succeeds and says nothing changed.
  const again = await c.call('archive_run', { run_id: run.id });
  assert.ok(!again.isError, textOf(again));
  assert.strictEqual(again.structuredContent.changed, false);
  assert.equal(again.structuredContent.resource.state, 'archived');

  // The undo call the result named brings it back with its earlier status.
  const restored = await c.call(a.undo.tool, a.undo.arguments);
  assert.ok(!restored.isError, `activate_run: ${textOf(restored)}`);
  const r = restored.structuredContent;
  assert.equal(r.action, 'activate');
  assert.strictEqual(r.changed, true);
  assert.strictEqual(r.reversible, true);
  assert.equal(r.undo.tool, 'archive_run');
  assert.deepEqual(r.undo.arguments, { run_id: run.id });
  assert.equal(r.resource.state, 'live');
  assert.equal(r.resource.status, run.status, 'activate_run result: earlier status not restored');

  const back = await getRun(c, run.id);
  assert.strictEqual(back.archived, false);
  assert.equal(back.status, run.status, 'get_run: earlier status not restored');
  assert.equal(back.progress, run.progress);
  assert.ok((await listRuns(c, 'exclude')).some((x) => x.id === run.id), 'not back among live runs');

  const second = await c.call('activate_run', { run_id: run.id });
  assert.ok(!second.isError, `second activate_run: ${textOf(second)}`);
  assert.strictEqual(second.structuredContent.changed, false);
  assert.equal(second.structuredContent.resource.state, 'live');
  assert.equal((await getRun(c, run.id)).status, run.status);
}

describe('run lifecycle', { concurrency: true }, () => {
  it('archives an active run and activate_run restores it; a second activate_run changes nothing', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const run = await activeRun(c);
    await archiveAndRestore(c, run);
  });

  it('restores a run that was not "active" (complete/problem) with that same status', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const run = await nonActiveLiveRun(c);
    if (!run) return t.skip('the demo data has no live run other than active ones');
    assert.notEqual(run.status, 'active');
    await archiveAndRestore(c, run);
  });

  for (const mode of ['token', 'off']) {
    it(`refuses delete_run of a live run and leaves it unchanged (--confirm ${mode})`, async (t) => {
      const c = await startClient({ args: ['--sandbox', '--confirm', mode], t });
      const run = await activeRun(c);
      const before = await getRun(c, run.id);

      const res = await c.call('delete_run', { run_id: run.id });
      assert.strictEqual(res.isError, true, `a live run was not refused: ${JSON.stringify(res.structuredContent)}`);
      const text = textOf(res);
      assert.match(text, /archive_run/, 'the refusal does not name archive_run');
      assert.match(text, /archive/i);
      assert.match(text, /nothing was deleted/i);

      assert.deepEqual(await getRun(c, run.id), before, 'the run changed');
      // Even a second try (with a made-up token) does nothing.
      const again = await c.call('delete_run', { run_id: run.id, confirm_token: 'tcf1.forged.token' });
      assert.strictEqual(again.isError, true);
      assert.deepEqual(await getRun(c, run.id), before, 'the run changed');
    });
  }
});
