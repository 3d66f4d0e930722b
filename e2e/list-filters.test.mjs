// list_runs' status and template_id, and updated_before/updated_after on the list tools,
// through the built binary and its sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, textOf } from './lib.mjs';

test('list_runs filters by status and template; updated bounds keep Tallyfy paging', async (t) => {
  const c = await startClient({ t });
  const all = await c.call('list_runs', { archived: 'include', per_page: 100 });
  assert.ok(!all.isError, textOf(all));
  const runs = all.structuredContent.runs;
  assert.ok(runs.length >= 3, textOf(all));

  const complete = await c.call('list_runs', { status: 'complete', per_page: 100 });
  assert.ok(!complete.isError, textOf(complete));
  assert.ok(complete.structuredContent.runs.length > 0, textOf(complete));
  assert.ok(complete.structuredContent.runs.every((r) => r.status === 'complete'), textOf(complete));

  const tpl = runs.find((r) => r.template_id).template_id;
  const fromTpl = await c.call('list_runs', { template_id: tpl, archived: 'include', per_page: 100 });
  assert.ok(!fromTpl.isError, textOf(fromTpl));
  assert.deepEqual(
    fromTpl.structuredContent.runs.map((r) => r.id).sort(),
    runs.filter((r) => r.template_id === tpl).map((r) => r.id).sort(),
  );

  const stamps = runs.map((r) => Date.parse(r.last_updated)).sort((a, b) => a - b);
  const pivot = new Date(stamps[Math.floor(stamps.length / 2)]).toISOString();
  const before = await c.call('list_runs', { archived: 'include', per_page: 100, updated_before: pivot });
  assert.ok(!before.isError, textOf(before));
  const kept = before.structuredContent.runs;
  assert.ok(kept.length > 0 && kept.length < runs.length, textOf(before));
  assert.ok(kept.every((r) => Date.parse(r.last_updated) < Date.parse(pivot)), textOf(before));
  const page = before.structuredContent.page_info;
  assert.equal(page.filtered_out, runs.length - kept.length);
  assert.equal(page.total, runs.length, 'total stays Tallyfy\'s');
  assert.match(textOf(before), /left out by updated_before\/updated_after/);

  const bad = await c.call('list_templates', { updated_after: 'last week' });
  assert.ok(bad.isError);
  assert.match(textOf(bad), /updated_after.*RFC 3339/s);
  const archivedStatus = await c.call('list_runs', { status: 'archived' });
  assert.ok(archivedStatus.isError, textOf(archivedStatus));
});
