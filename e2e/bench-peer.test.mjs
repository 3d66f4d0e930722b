// The TypeScript-SDK peer of `make bench` (bench-peer.mjs) answers like a server: initialize,
// tools/list with its two tools, and calls that reach the same demo Tallyfy API the Go server
// is benchmarked against. Without this, the cold-start ratio could silently time a crash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

import { E2E_DIR, cleanEnv, startSandbox, textOf, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

describe('bench peer', () => {
  it('initializes, lists get_task and list_tasks, and reads a task from the sandbox', async (t) => {
    const sb = await startSandbox({ t });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [path.join(E2E_DIR, 'bench-peer.mjs')],
      env: cleanEnv({ TALLYFY_BASE_URL: sb.url, TALLYFY_ORG_ID: sb.org, TALLYFY_ACCESS_TOKEN: SANDBOX_ADMIN_TOKEN }),
      stderr: 'pipe',
      cwd: E2E_DIR,
    });
    const client = new Client({ name: 'bench-peer-test', version: '0' });
    t.after(() => client.close());
    await client.connect(transport);
    assert.equal(client.getServerVersion()?.name, 'bench-peer');

    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['get_task', 'list_tasks']);

    const list = await client.callTool({ name: 'list_tasks', arguments: {} });
    assert.notEqual(list.isError, true, textOf(list));
    const tasks = JSON.parse(textOf(list));
    assert.ok(Array.isArray(tasks) && tasks.length > 0, 'the sandbox listed no tasks');

    const one = await client.callTool({ name: 'get_task', arguments: { task_id: tasks[0].id } });
    assert.notEqual(one.isError, true, textOf(one));
    assert.equal(JSON.parse(textOf(one)).id, tasks[0].id);

    const missing = await client.callTool({ name: 'get_task', arguments: { task_id: 'no-such-task' } });
    assert.equal(missing.isError, true, 'an unknown task was not an error result');
  });
});
