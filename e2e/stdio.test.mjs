// 5. stdout purity on stdio, exit on stdin EOF and on SIGTERM (raw process, no SDK).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { spawn } from 'node:child_process';

import { binary, cleanEnv, spawnRaw, within } from './lib.mjs';

const ZERO_ID = '0'.repeat(32);

function call(id, name, args) {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}

/** Asserts line is one JSON-RPC 2.0 message (response, error, request or notification). */
function assertJsonRpc(line, i) {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    assert.fail(`stdout line ${i + 1} is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  assert.ok(m && typeof m === 'object' && !Array.isArray(m), `line ${i + 1} is not an object`);
  assert.equal(m.jsonrpc, '2.0', `line ${i + 1}: jsonrpc`);
  const isResponse = 'id' in m && ('result' in m) !== ('error' in m);
  const isRequestOrNote = typeof m.method === 'string';
  assert.ok(isResponse || isRequestOrNote, `line ${i + 1} is neither a response nor a request: ${line.slice(0, 200)}`);
  if ('error' in m) {
    assert.equal(typeof m.error.code, 'number', `line ${i + 1}: error.code`);
    assert.equal(typeof m.error.message, 'string', `line ${i + 1}: error.message`);
  }
  return m;
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-e2e', version: '1' } } };

describe('stdio', { concurrency: true }, () => {
  it('writes only JSON-RPC 2.0 lines on stdout, logs on stderr, and exits 0 on stdin EOF', async () => {
    const p = spawnRaw(['--sandbox', '--log-level', 'debug']);
    try {
      p.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-e2e', version: '1' } } });
      const init = await p.waitFor((m) => m.id === 1);
      assert.equal(init.result?.protocolVersion, '2025-11-25');
      assert.equal(init.result?.serverInfo?.name, 'tallyfy-mcp');

      p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const requests = [
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        call(3, 'list_runs', { archived: 'include' }),
        call(4, 'get_run', { run_id: ZERO_ID }), // not found: isError
        call(5, 'get_run', { run_id: 'not-an-id' }), // bad pattern
        call(6, 'archive_run', { run_id: `${ZERO_ID}/delete` }), // path smuggling
        call(7, 'list_runs', { archived: 'sideways', per_page: 1000, extra: true }),
        call(8, 'get_template', { template_id: 42 }),
        call(9, 'no_such_tool', {}),
        call(10, 'delete_run', { run_id: ZERO_ID }),
        call(11, 'list_tasks', 'not-an-object'),
        { jsonrpc: '2.0', id: 12, method: 'no/such/method' },
        { jsonrpc: '1.0', id: 13, method: 'ping' },
      ];
      for (const r of requests) p.send(r);
      p.send('{"jsonrpc": "2.0", "id": 99, "method": '); // malformed JSON
      p.send('[1, 2, 3]');
      p.send({ jsonrpc: '2.0', method: 'notifications/no_such_note' });
      p.send({ jsonrpc: '2.0', id: 14, method: 'ping' });

      // Every request with an id gets an answer before we hang up.
      const ids = [...requests.map((r) => r.id), 14];
      await Promise.all(ids.map((id) => p.waitFor((m) => m.id === id && ('result' in m || 'error' in m))));
      await p.waitFor((m) => m.id === null && m.error?.code === -32700); // the malformed line
      p.child.stdin.end();
      const { code, signal } = await within(p.exited, 10_000, 'exit after stdin EOF');
      assert.equal(signal, null);
      assert.equal(code, 0, `exit code ${code} after stdin EOF\n${p.stderr()}`);

      const out = p.stdout();
      assert.ok(out.endsWith('\n'), 'stdout does not end with a newline');
      const lines = out.slice(0, -1).split('\n');
      const msgs = lines.map(assertJsonRpc);
      // Exactly one answer per request id; nothing answers a notification.
      for (const id of ids) {
        assert.equal(msgs.filter((m) => m.id === id).length, 1, `answers to id ${id}`);
      }
      assert.ok(!msgs.some((m) => m.id === 99), 'the malformed line was answered as if it parsed');
      // Tool failures are results with isError; protocol misuse are JSON-RPC errors.
      const byId = new Map(msgs.filter((m) => m.id != null).map((m) => [m.id, m]));
      for (const id of [4, 5, 6, 7, 8, 10, 11]) {
        assert.strictEqual(byId.get(id).result?.isError, true, `id ${id}: want an isError tool result, got ${JSON.stringify(byId.get(id)).slice(0, 300)}`);
      }
      assert.ok(byId.get(3).result?.structuredContent?.runs?.length > 0, 'list_runs returned no runs');
      assert.ok(byId.get(9).error, 'an unknown tool was not a JSON-RPC error');
      assert.equal(byId.get(12).error?.code, -32601);

      const errLines = p.stderr().split('\n').filter((l) => l.trim() !== '');
      assert.ok(errLines.length >= 1, 'nothing was logged on stderr');
      assert.ok(errLines.some((l) => /sandbox/i.test(l)), 'stderr does not mention the sandbox');
    } finally {
      p.kill('SIGKILL');
    }
  });

  // A host that crashes or is killed leaves the server with stdin at EOF: it must not linger,
  // not even while a delete waits for the person's answer, which can no longer come.
  it('exits when its parent dies, even with a question open to the person', async (t) => {
    const parentScript = `
      const { spawn } = require('node:child_process');
      const c = spawn(process.env.SERVER_BIN, ['--sandbox', '--confirm', 'elicit'], { stdio: ['pipe', 'pipe', 'ignore'] });
      console.log('pid ' + c.pid);
      const send = (m) => c.stdin.write(JSON.stringify(m) + '\\n');
      let buf = '';
      c.stdout.on('data', (d) => {
        buf += d;
        for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
          const m = JSON.parse(buf.slice(0, i));
          if (m.id === 1) { send({ jsonrpc: '2.0', method: 'notifications/initialized' }); send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_runs', arguments: { archived: 'only' } } }); }
          if (m.id === 2) send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'delete_run', arguments: { run_id: m.result.structuredContent.runs[0].id } } });
          if (m.method === 'elicitation/create') console.log('asked');
        }
      });
      send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 'parent', version: '1' } } });
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', parentScript], { env: cleanEnv({ SERVER_BIN: binary() }), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (d) => { out += d; });
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
    let pid;
    t.after(() => { parent.kill('SIGKILL'); if (pid && alive(pid)) process.kill(pid, 'SIGKILL'); });
    await within((async () => { while (!/asked/.test(out)) await new Promise((r) => setTimeout(r, 20)); })(), 15_000, 'the delete asking the person');
    pid = Number(out.match(/pid (\d+)/)[1]);
    assert.ok(alive(pid), 'the server is running');
    parent.kill('SIGKILL');
    await within((async () => { while (alive(pid)) await new Promise((r) => setTimeout(r, 50)); })(), 15_000, 'the server exiting after its parent died');
  });

  it('exits 0 promptly on SIGTERM', async () => {
    const p = spawnRaw(['--sandbox']);
    try {
      p.send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-e2e', version: '1' } } });
      await p.waitFor((m) => m.id === 1);
      p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      p.send(call(2, 'list_templates', {}));
      await p.waitFor((m) => m.id === 2);

      p.kill('SIGTERM');
      const { code, signal } = await within(p.exited, 5_000, 'exit after SIGTERM');
      assert.equal(signal, null, 'killed by the signal instead of shutting down');
      assert.equal(code, 0, `exit code ${code} after SIGTERM\n${p.stderr()}`);
      for (const [i, line] of p.lines().entries()) assertJsonRpc(line, i);
    } finally {
      p.kill('SIGKILL');
    }
  });
  it('keeps stdout pure when stdin closes right after a burst of requests, and exits 0', async () => {
    const p = spawnRaw(['--sandbox', '--log-level', 'debug']);
    try {
      p.send(INIT);
      p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      p.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
      for (let id = 3; id < 23; id++) {
        p.send(id % 3 ? call(id, 'list_runs', { archived: 'include' }) : call(id, 'get_run', { run_id: 'bad' }));
      }
      p.send('{"jsonrpc":"2.0","id":');
      p.send(call(23, 'delete_template', { template_id: ZERO_ID }));
      p.child.stdin.end(); // no waiting for answers
      const { code, signal } = await within(p.exited, 10_000, 'exit after stdin EOF');
      assert.equal(signal, null);
      assert.equal(code, 0, `exit code ${code}\n${p.stderr()}`);
      const out = p.stdout();
      assert.ok(out === '' || out.endsWith('\n'), 'stdout ends in a partial line');
      const msgs = p.lines().map(assertJsonRpc);
      assert.ok(msgs.some((m) => m.id === 1 && m.result), 'initialize was not answered');
      assert.ok(p.stderr().trim() !== '', 'nothing was logged on stderr');
    } finally {
      p.kill('SIGKILL');
    }
  });

  // `printf '<requests>' | tallyfy-mcp --sandbox` and any client that writes its requests and
  // then closes stdin (the MCP way to end a stdio session): every request must still get its
  // one answer, and a tools/call its real result.
  it('answers every request written before stdin EOF with its real result',
    async () => {
      const p = spawnRaw(['--sandbox']);
      try {
        p.send(INIT);
        p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
        const ids = [];
        for (let id = 2; id < 12; id++) {
          p.send(call(id, 'list_templates', {}));
          ids.push(id);
        }
        p.child.stdin.end();
        const { code } = await within(p.exited, 10_000, 'exit after stdin EOF');
        assert.equal(code, 0);
        const msgs = p.lines().map(assertJsonRpc);
        const unanswered = ids.filter((id) => !msgs.some((m) => m.id === id));
        assert.deepEqual(unanswered, [], `requests never answered: ${unanswered.join(', ')}`);
        for (const id of ids) {
          const m = msgs.find((x) => x.id === id);
          assert.ok(!m.result?.isError && m.result?.structuredContent?.templates, `id ${id}: ${JSON.stringify(m).slice(0, 200)}`);
        }
      } finally {
        p.kill('SIGKILL');
      }
    });

  // A runaway line must not take the server's memory: past --max-body-bytes it is skipped
  // unread with a -32600 error (null id: the id was never read), blank lines get no answer,
  // and the next request is served as usual.
  it('skips a line longer than --max-body-bytes with a -32600 error and serves the next one', async () => {
    const p = spawnRaw(['--sandbox', '--max-body-bytes', '4096']);
    try {
      p.send(INIT);
      p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      p.send({ jsonrpc: '2.0', id: 2, method: 'ping', params: { pad: 'x'.repeat(100_000) } });
      p.send('');
      p.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
      p.child.stdin.end();
      const { code } = await within(p.exited, 10_000, 'exit after stdin EOF');
      assert.equal(code, 0, p.stderr());
      const msgs = p.lines().map(assertJsonRpc);
      const refused = msgs.filter((m) => m.error);
      assert.equal(refused.length, 1, `want one error, got ${JSON.stringify(refused)}`);
      assert.equal(refused[0].id, null);
      assert.equal(refused[0].error.code, -32600);
      assert.match(refused[0].error.message, /--max-body-bytes/);
      assert.ok(msgs.some((m) => m.id === 3 && m.result), 'the ping after the long line was not answered');
      assert.ok(!msgs.some((m) => m.id === 2), 'the oversized request was answered as if read');
      assert.equal(msgs.length, 3, `want initialize, the error and ping 3: ${JSON.stringify(msgs).slice(0, 300)}`);
    } finally {
      p.kill('SIGKILL');
    }
  });
});
