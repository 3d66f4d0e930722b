// 3. Two-step permanent delete of an archived template with --confirm token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, archivedTemplate, listTemplates, textOf } from './lib.mjs';

const isArchived = async (c, id) => (await listTemplates(c, 'only')).some((x) => x.id === id);

async function firstCall(c, tpl) {
  const res = await c.call('delete_template', { template_id: tpl.id });
  assert.ok(!res.isError, `first delete_template call: ${textOf(res)}`);
  const s = res.structuredContent;
  assert.equal(s.status, 'confirmation_required');
  assert.strictEqual(s.reversible, false);
  assert.ok(typeof s.confirm_token === 'string' && s.confirm_token.length > 0, 'no confirm_token');
  return res;
}

describe('token-confirmed permanent delete', { concurrency: true }, () => {
  it('takes two calls: preview and token, then deleted; the token cannot be replayed', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const tpl = await archivedTemplate(c);

    const first = await firstCall(c, tpl);
    const s = first.structuredContent;
    assert.equal(s.preview.type, 'template');
    assert.equal(s.preview.id, tpl.id);
    assert.equal(s.preview.name, tpl.title);
    assert.equal(s.preview.state, 'archived');
    assert.ok(s.preview.destroys, 'the preview does not say what is destroyed');
    assert.equal(s.resource.id, tpl.id);
    const expires = Date.parse(s.expires_at);
    assert.ok(expires > Date.now(), `expires_at ${s.expires_at} is not in the future`);
    assert.ok(expires < Date.now() + 24 * 3600e3, `expires_at ${s.expires_at}: not short-lived`);
    // A host that shows only text still gets everything needed.
    assert.ok(textOf(first).includes(s.confirm_token), 'the text copy lacks the token');
    assert.ok(textOf(first).includes(tpl.title), 'the text copy does not name the template');

    // Nothing happened yet.
    assert.ok(await isArchived(c, tpl.id), 'the first call alone deleted the template');
    const still = await c.call('get_template', { template_id: tpl.id });
    assert.ok(!still.isError, textOf(still));
    assert.strictEqual(still.structuredContent.template.archived, true);

    const second = await c.call('delete_template', { template_id: tpl.id, confirm_token: s.confirm_token });
    assert.ok(!second.isError, `second call: ${textOf(second)}`);
    assert.equal(second.structuredContent.status, 'deleted');
    assert.strictEqual(second.structuredContent.reversible, false);
    assert.equal(second.structuredContent.resource.id, tpl.id);
    assert.equal(second.structuredContent.resource.state, 'deleted');
    assert.equal(second.structuredContent.confirmation, 'token');

    const gone = await c.call('get_template', { template_id: tpl.id });
    assert.strictEqual(gone.isError, true, 'get_template still finds the deleted template');
    assert.ok(!(await listTemplates(c, 'include')).some((x) => x.id === tpl.id), 'still listed');

    const replay = await c.call('delete_template', { template_id: tpl.id, confirm_token: s.confirm_token });
    assert.strictEqual(replay.isError, true, 'a replayed token was accepted');
    assert.notEqual(replay.structuredContent?.status, 'deleted');
  });

  it('binds the token to one item and its state: another item, a changed item and a forged token are refused', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const seeded = await archivedTemplate(c); // archived long ago
    const live = (await listTemplates(c, 'exclude'))[0];
    const arch = await c.call('archive_template', { template_id: live.id });
    assert.ok(!arch.isError && arch.structuredContent.changed, textOf(arch));

    // A token for `seeded` does not delete `live` (now archived too) ...
    const tokenA = (await firstCall(c, seeded)).structuredContent.confirm_token;
    const foreign = await c.call('delete_template', { template_id: live.id, confirm_token: tokenA });
    assert.strictEqual(foreign.isError, true, 'a token for another template was accepted');
    assert.ok(await isArchived(c, live.id), 'the other template was deleted');
    // ... nor does a forged one (a flipped signature character).
    const forged = tokenA.slice(0, -2) + (tokenA.at(-2) === 'A' ? 'B' : 'A') + tokenA.at(-1);
    const bad = await c.call('delete_template', { template_id: seeded.id, confirm_token: forged });
    assert.strictEqual(bad.isError, true, 'a tampered token was accepted');
    assert.ok(await isArchived(c, seeded.id));

    // Restore and archive again: its fingerprint changed, so the old token no longer fits.
    for (const tool of ['restore_template', 'archive_template']) {
      const r = await c.call(tool, { template_id: seeded.id });
      assert.ok(!r.isError && r.structuredContent.changed, `${tool}: ${textOf(r)}`);
    }
    const stale = await c.call('delete_template', { template_id: seeded.id, confirm_token: tokenA });
    assert.strictEqual(stale.isError, true, 'a token issued before the item changed was accepted');
    assert.match(textOf(stale), /nothing was deleted/i);
    assert.ok(await isArchived(c, seeded.id), 'the changed template was deleted');

    // A fresh preview and token still work.
    const tokenB = (await firstCall(c, seeded)).structuredContent.confirm_token;
    const done = await c.call('delete_template', { template_id: seeded.id, confirm_token: tokenB });
    assert.equal(done.structuredContent?.status, 'deleted', textOf(done));
  });
  it('lets exactly one of several concurrent calls with the same token delete', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const tpl = await archivedTemplate(c);
    const token = (await firstCall(c, tpl)).structuredContent.confirm_token;
    const results = await Promise.all(Array.from({ length: 5 }, () =>
      c.call('delete_template', { template_id: tpl.id, confirm_token: token })));
    const deleted = results.filter((r) => r.structuredContent?.status === 'deleted');
    assert.equal(deleted.length, 1, `deleted ${deleted.length} times: ${results.map(textOf).join(' | ')}`);
    for (const r of results.filter((x) => x !== deleted[0])) assert.strictEqual(r.isError, true);
  });
});
