// list_tasks finds a one-off task by its title through the built binary, although the
// sandbox's q follows Tallyfy's docs and searches only process and step names.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, textOf } from './lib.mjs';

test('list_tasks with a query finds one-off tasks by title', async (t) => {
  const c = await startClient({ t });
  const res = await c.call('list_tasks', { query: 'ssl CERTIFICATE' });
  assert.ok(!res.isError, textOf(res));
  const titles = res.structuredContent.tasks.map((x) => x.title);
  assert.ok(titles.some((x) => /SSL certificate/i.test(x)), `no SSL task in ${JSON.stringify(titles)}`);
  assert.ok(!res.structuredContent.search_incomplete);
  assert.equal(res.structuredContent.page_info.total, titles.length);

  const archived = await c.call('list_tasks', { query: 'headcount', archived: 'only' });
  assert.equal(archived.structuredContent.tasks.length, 1, textOf(archived));
  assert.equal(archived.structuredContent.tasks[0].archived, true);
});
