// 9. Policy flags through a real client: what is listed is what can be called.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, activeRun, archivedRun, listRuns, textOf, runOnce, ALL_TOOLS, READ_TOOLS, PERMANENT_TOOLS } from './lib.mjs';

/** Calls a tool that must not be callable: either a JSON-RPC error or an isError result. */
async function assertRefused(c, name, args) {
  let res;
  try {
    res = await c.client.callTool({ name, arguments: args });
  } catch (err) {
    // A JSON-RPC error: the tool does not exist for this client (not a crash or a timeout).
    assert.equal(typeof err.code, 'number', `${name}: ${err.message}`);
    assert.ok(err.message.includes(name), `${name}: ${err.message}`);
    return err;
  }
  assert.strictEqual(res.isError, true, `${name} ran: ${textOf(res)}`);
  return res;
}

const getRun = async (c, id) => (await c.call('get_run', { run_id: id })).structuredContent.run;

describe('policy', { concurrency: true }, () => {
  it('--read-only lists exactly the 6 read tools and refuses the others', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--read-only', '--confirm', 'off'], t });
    assert.deepEqual(c.tools.map((x) => x.name).sort(), READ_TOOLS);
    assert.equal(READ_TOOLS.length, 6);
    for (const tool of c.tools) assert.strictEqual(tool.annotations.readOnlyHint, true);

    const run = await activeRun(c);
    const before = await getRun(c, run.id);
    await assertRefused(c, 'archive_run', { run_id: run.id });
    assert.deepEqual(await getRun(c, run.id), before, 'a hidden archive_run changed the run');

    const old = await archivedRun(c);
    await assertRefused(c, 'delete_run', { run_id: old.id });
    await assertRefused(c, 'activate_run', { run_id: old.id });
    assert.strictEqual((await getRun(c, old.id)).archived, true, 'a hidden tool touched the archived run');
  });

  it('--disable-permanent-delete lists 14 tools and refuses delete_* and bulk_delete (even with --confirm off)', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--disable-permanent-delete', '--confirm', 'off'], t });
    assert.deepEqual(c.tools.map((x) => x.name).sort(), ALL_TOOLS.filter((n) => !PERMANENT_TOOLS.includes(n)));
    assert.equal(c.tools.length, 14);

    const old = await archivedRun(c);
    await assertRefused(c, 'delete_run', { run_id: old.id });
    await assertRefused(c, 'bulk_delete', { type: 'run', ids: [old.id] });
    assert.ok((await listRuns(c, 'only')).some((r) => r.id === old.id), 'the archived run was deleted');
  });

  it('read-only wins over --tools, and --exclude-tools hides a tool', async (t) => {
    const ro = await startClient({ args: ['--sandbox', '--read-only', '--tools', 'delete_run,get_run'], t });
    assert.deepEqual(ro.tools.map((x) => x.name), ['get_run']);

    const ex = await startClient({ args: ['--sandbox', '--exclude-tools', 'archive_run', '--tools', 'archive_run,get_run,list_runs'], t });
    assert.deepEqual(ex.tools.map((x) => x.name).sort(), ['get_run', 'list_runs']);
    const run = await activeRun(ex);
    await assertRefused(ex, 'archive_run', { run_id: run.id });
    assert.strictEqual((await getRun(ex, run.id)).archived, false);
  });

  it('--protect refuses to archive or delete the protected item', async (t) => {
    const probe = await startClient({ args: ['--sandbox'], t });
    const live = await activeRun(probe);
    const old = await archivedRun(probe);
    await probe.close();

    const c = await startClient({ args: ['--sandbox', '--confirm', 'off', '--protect', `${live.id},${old.id}`], t });
    const before = await getRun(c, live.id);
    const a = await c.call('archive_run', { run_id: live.id });
    assert.strictEqual(a.isError, true, `archived a protected run: ${textOf(a)}`);
    assert.deepEqual(await getRun(c, live.id), before);
    const d = await c.call('delete_run', { run_id: old.id });
    assert.strictEqual(d.isError, true, `deleted a protected run: ${textOf(d)}`);
    assert.ok((await listRuns(c, 'only')).some((r) => r.id === old.id));
  });

  it('--protect and TALLYFY_PROTECT protect an ID written in uppercase', async (t) => {
    const probe = await startClient({ args: ['--sandbox'], t });
    const live = await activeRun(probe);
    const old = await archivedRun(probe);
    await probe.close();

    for (const how of ['flag', 'variable']) {
      const args = ['--sandbox', '--confirm', 'off'];
      const env = {};
      if (how === 'flag') args.push('--protect', `${live.id.toUpperCase()},${old.id.toUpperCase()}`);
      else env.TALLYFY_PROTECT = `${live.id.toUpperCase()}, ${old.id.toUpperCase()}`;
      const c = await startClient({ args, env, t });
      const a = await c.call('archive_run', { run_id: live.id });
      assert.strictEqual(a.isError, true, `${how}: archived a protected run: ${textOf(a)}`);
      assert.match(textOf(a), /protected/);
      const d = await c.call('delete_run', { run_id: old.id });
      assert.strictEqual(d.isError, true, `${how}: deleted a protected run: ${textOf(d)}`);
      assert.match(textOf(d), /protected/);
      assert.strictEqual((await getRun(c, live.id)).archived, false);
      assert.ok((await listRuns(c, 'only')).some((r) => r.id === old.id), `${how}: the protected run is gone`);
      await c.close();
    }
  });

  it('--protect and TALLYFY_PROTECT refuse to start on an entry that is not an ID, naming it', () => {
    const id = '2db5a39eaf55b1f0cc06bb080d71a6df';
    for (const [args, env, bad, where] of [
      [['--sandbox', '--protect', `${id},Onboarding-run`], {}, 'Onboarding-run', 'protect'],
      [['--sandbox'], { TALLYFY_PROTECT: `${id}/delete` }, `${id}/delete`, 'TALLYFY_PROTECT'],
      [['--sandbox', '--protect', id.slice(0, 31)], {}, id.slice(0, 31), 'protect'],
    ]) {
      const r = runOnce(args, { env });
      assert.notStrictEqual(r.code, 0, `${JSON.stringify(args)} ${JSON.stringify(env)} started`);
      assert.strictEqual(r.stdout, '', 'stdout carries nothing but JSON-RPC');
      assert.ok(r.stderr.includes(`"${bad}"`) && r.stderr.includes(where), `stderr does not name ${bad} and ${where}: ${r.stderr}`);
    }
  });

  it('--max-deletes-per-hour 0 refuses every permanent delete clearly', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'off', '--max-deletes-per-hour', '0'], t });
    const old = await archivedRun(c);
    const d = await c.call('delete_run', { run_id: old.id });
    assert.strictEqual(d.isError, true, `deleted beyond the budget: ${textOf(d)}`);
    assert.match(textOf(d), /nothing was deleted|not deleted|limit|budget/i);
    assert.ok((await listRuns(c, 'only')).some((r) => r.id === old.id));
  });
});
