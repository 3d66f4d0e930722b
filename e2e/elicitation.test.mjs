// 6. Elicitation: the server asks the person mid-call; only the typed name of the item deletes it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, archivedTemplate, archivedRun, listTemplates, listRuns, textOf } from './lib.mjs';

/** A client that declares elicitation and answers every question with answer(request). */
async function elicitingClient(t, args, answer) {
  const asked = [];
  const c = await startClient({
    args,
    t,
    capabilities: { elicitation: {} },
    onElicit: async (req) => {
      asked.push(req.params);
      return answer(req.params);
    },
  });
  return { ...c, asked };
}

function assertAsksAbout(params, name, id) {
  assert.ok(params.message.includes(name), `the question does not name the item: ${params.message}`);
  assert.ok(params.message.includes(id), `the question does not give the ID: ${params.message}`);
  const props = params.requestedSchema?.properties ?? {};
  assert.equal(props.name?.type, 'string', 'the question does not ask for a name string');
}

const stillArchivedTemplate = async (c, id) => (await listTemplates(c, 'only')).some((x) => x.id === id);
const stillArchivedRun = async (c, id) => (await listRuns(c, 'only')).some((x) => x.id === id);

describe('elicitation', { concurrency: true }, () => {
  it('deletes an archived template and an archived run in ONE call once the person types the name', async (t) => {
    let typed = '';
    const c = await elicitingClient(t, ['--sandbox'], () => ({ action: 'accept', content: { name: typed } }));
    const tpl = await archivedTemplate(c);
    const run = await archivedRun(c);

    typed = tpl.title;
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.ok(!res.isError, textOf(res));
    assert.equal(res.structuredContent.status, 'deleted', JSON.stringify(res.structuredContent));
    assert.equal(res.structuredContent.confirmation, 'elicitation');
    assert.equal(res.structuredContent.resource.id, tpl.id);
    assert.equal(c.asked.length, 1, 'the person was not asked exactly once');
    assertAsksAbout(c.asked[0], tpl.title, tpl.id);
    assert.strictEqual((await c.call('get_template', { template_id: tpl.id })).isError, true, 'the template is still there');
    assert.ok(!(await stillArchivedTemplate(c, tpl.id)));

    typed = run.name;
    const r2 = await c.call('delete_run', { run_id: run.id });
    assert.ok(!r2.isError, textOf(r2));
    assert.equal(r2.structuredContent.status, 'deleted', JSON.stringify(r2.structuredContent));
    assert.equal(c.asked.length, 2);
    assertAsksAbout(c.asked[1], run.name, run.id);
    assert.strictEqual((await c.call('get_run', { run_id: run.id })).isError, true, 'the run is still there');
  });

  for (const [why, answer] of [
    ['declines', () => ({ action: 'decline' })],
    ['dismisses the question', () => ({ action: 'cancel' })],
    ['types a wrong name', () => ({ action: 'accept', content: { name: 'Employee Onboarding' } })],
    ['accepts with an empty name', () => ({ action: 'accept', content: { name: '' } })],
  ]) {
    it(`deletes nothing when the person ${why}`, async (t) => {
      const c = await elicitingClient(t, ['--sandbox'], answer);
      const tpl = await archivedTemplate(c);
      const run = await archivedRun(c);

      const res = await c.call('delete_template', { template_id: tpl.id });
      assert.equal(res.structuredContent?.status, 'cancelled', `${textOf(res)}`);
      assert.notEqual(res.isError, true);
      assert.match(textOf(res), /nothing was deleted/i);
      assert.equal(c.asked.length, 1);
      assert.ok(await stillArchivedTemplate(c, tpl.id), 'the template left the archived list');

      const r2 = await c.call('delete_run', { run_id: run.id });
      assert.equal(r2.structuredContent?.status, 'cancelled', `${textOf(r2)}`);
      assert.ok(await stillArchivedRun(c, run.id), 'the run left the archived list');
    });
  }

  it('deletes nothing when nobody answers within --elicit-timeout', async (t) => {
    const c = await elicitingClient(t, ['--sandbox', '--elicit-timeout', '300ms'], () => new Promise(() => {}));
    const tpl = await archivedTemplate(c);
    const t0 = Date.now();
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.ok(Date.now() - t0 < 10_000);
    assert.notEqual(res.structuredContent?.status, 'deleted', textOf(res));
    assert.match(textOf(res), /nothing was deleted/i);
    assert.ok(await stillArchivedTemplate(c, tpl.id));
  });

  it('gives a client without the elicitation capability the local approval page under --confirm auto, never a token', async (t) => {
    // --confirm auto is the default; the browser command records the link instead of opening one.
    const c = await startClient({ args: ['--sandbox', '--approval-browser', 'true'], t });
    const tpl = await archivedTemplate(c);
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.ok(!res.isError, textOf(res));
    assert.equal(res.structuredContent.status, 'approval_pending');
    assert.equal(res.structuredContent.confirmation, 'approval_page');
    assert.ok(!res.structuredContent.confirm_token, 'a token the model could give itself');
    let link = null; // stderr arrives on its own pipe, a moment after the result
    for (let i = 0; i < 100 && !link; i++) {
      link = c.stderr().match(/link=(http:\/\/127\.0\.0\.1:\d+\/approve\/[0-9a-f]+\/([0-9a-f]{64}))/);
      if (!link) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(link, `no approval link on stderr:\n${c.stderr()}`);
    assert.ok(!JSON.stringify(res).includes(link[2]) && !JSON.stringify(res).includes('127.0.0.1'), 'the result carries the link');
    const again = await c.call('delete_template', { template_id: tpl.id });
    assert.match(textOf(again), /still waiting/i);
    assert.ok(await stillArchivedTemplate(c, tpl.id));
  });

  it('--confirm token gives the token flow, and says token', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const tpl = await archivedTemplate(c);
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.equal(res.structuredContent.status, 'confirmation_required');
    assert.equal(res.structuredContent.confirmation, 'token');
  });

  it('refuses a client without the elicitation capability under --confirm elicit, token or not', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'elicit'], t });
    const tpl = await archivedTemplate(c);
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.strictEqual(res.isError, true, `not refused: ${JSON.stringify(res.structuredContent)}`);
    assert.match(textOf(res), /nothing was deleted/i);
    assert.ok(!textOf(res).includes('tcf1.'), 'a token was handed out anyway');
    const withToken = await c.call('delete_template', { template_id: tpl.id, confirm_token: 'tcf1.e30.AAAA' });
    assert.strictEqual(withToken.isError, true);
    assert.ok(await stillArchivedTemplate(c, tpl.id));
  });

  it('asks a client that can elicit under --confirm elicit, and never under --confirm token', async (t) => {
    const elicit = await elicitingClient(t, ['--sandbox', '--confirm', 'elicit'], () => ({ action: 'decline' }));
    const tpl = await archivedTemplate(elicit);
    const res = await elicit.call('delete_template', { template_id: tpl.id });
    assert.equal(res.structuredContent?.status, 'cancelled', textOf(res));
    assert.equal(elicit.asked.length, 1);

    const token = await elicitingClient(t, ['--sandbox', '--confirm', 'token'], () => ({ action: 'accept', content: { name: tpl.title } }));
    const r2 = await token.call('delete_template', { template_id: tpl.id });
    assert.equal(r2.structuredContent?.status, 'confirmation_required', textOf(r2));
    assert.equal(token.asked.length, 0, '--confirm token asked the person anyway');
    assert.ok(await stillArchivedTemplate(token, tpl.id));
  });
  it('deletes nothing when the client fails to show the question', async (t) => {
    const c = await elicitingClient(t, ['--sandbox'], () => { throw new Error('this host has no dialog'); });
    const tpl = await archivedTemplate(c);
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.notEqual(res.structuredContent?.status, 'deleted', textOf(res));
    assert.match(textOf(res), /nothing was deleted/i);
    assert.ok(await stillArchivedTemplate(c, tpl.id));
  });

  it('re-reads after the answer: an item restored while the person was asked is not deleted', async (t) => {
    let c;
    let tpl;
    c = await elicitingClient(t, ['--sandbox'], async () => {
      // Someone restores it while the question is open; then the person confirms.
      const r = await c.call('restore_template', { template_id: tpl.id });
      assert.strictEqual(r.structuredContent?.changed, true, textOf(r));
      return { action: 'accept', content: { name: tpl.title } };
    });
    tpl = await archivedTemplate(c);
    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.notEqual(res.structuredContent?.status, 'deleted', `deleted a template that was live again: ${textOf(res)}`);
    assert.match(textOf(res), /nothing was deleted/i);
    const now = await c.call('get_template', { template_id: tpl.id });
    assert.ok(!now.isError, 'the template is gone');
    assert.strictEqual(now.structuredContent.template.archived, false);
  });
});
