// Hardening against a hostile or careless client (issue 14, transport side), through the built
// binary: slow bodies and connection caps, clipped and escaped clientInfo, the HTTP session cap,
// and strict JSON-RPC (handshake first, exact ids, no batches).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { spawnRaw, startHttpServer, connectHttp, randomToken, tempDir, within } from './lib.mjs';

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
const initialize = (id, clientInfo = { name: 'hardening-e2e', version: '1' }) => ({
  jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo },
});
const callTool = (id, name, args, extra = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, ...extra } });
const ZERO_ID = '0'.repeat(32);

/** The raw stdout line answering id (matched on the text, so large numbers are not rounded). */
function rawLineFor(p, idText) {
  return p.lines().find((l) => l.startsWith(`{"jsonrpc":"2.0","id":${idText},`));
}

async function waitRawLine(p, idText, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const line = rawLineFor(p, idText);
    if (line) return line;
    if (Date.now() > end) assert.fail(`no answer with id ${idText}\n--- stdout ---\n${p.stdout()}\n--- stderr ---\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** POSTs one JSON-RPC body (an object, or text as is) to /mcp; resolves to { status, headers, text }. */
async function post(server, body, { token, session, headers = {} } = {}) {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (session) Object.assign(h, { 'Mcp-Session-Id': session, 'Mcp-Protocol-Version': '2025-11-25' });
  const res = await fetch(server.mcpUrl, { method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/**
 * Opens a raw TCP connection, sends head, then one byte every everyMs; resolves once the server
 * ends the connection (or after giveUpMs) with { closedAfterMs, response }.
 */
function slowBody(server, head, { everyMs, giveUpMs }) {
  const { hostname, port } = new URL(server.base);
  return new Promise((resolve) => {
    const start = Date.now();
    const sock = net.connect(Number(port), hostname);
    let response = '';
    let timer;
    const done = (closedAfterMs) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      sock.destroy();
      resolve({ closedAfterMs, response });
    };
    const giveUp = setTimeout(() => done(null), giveUpMs);
    sock.on('connect', () => {
      sock.write(head);
      timer = setInterval(() => sock.write('x'), everyMs);
    });
    sock.on('data', (d) => { response += d.toString('utf8'); });
    sock.on('close', () => done(Date.now() - start));
    sock.on('error', () => {});
  });
}

const slowHead = (server, token) => {
  const { host } = new URL(server.base);
  return `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}\r\n`;
};

/** A TCP connection to the server: resolves once connected, with the socket and a closed promise. */
function openConn(server) {
  const { hostname, port } = new URL(server.base);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    const closed = new Promise((r) => sock.on('close', r));
    let data = '';
    sock.on('data', (d) => { data += d.toString('utf8'); });
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, closed, data: () => data }));
    sock.once('error', reject);
  });
}

function rssKB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]);
}

function auditRecords(file) {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('hardening: HTTP slow bodies and connection caps', { concurrency: true }, () => {
  it('cuts off a body sent one byte at a time within --body-read-timeout: 401 at once without the token, 408 with it', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ args: ['--sandbox', '--body-read-timeout', '1s'], authToken: token, t });
    const [anon, authed] = await Promise.all([
      slowBody(server, slowHead(server), { everyMs: 300, giveUpMs: 6000 }),
      slowBody(server, slowHead(server, token), { everyMs: 300, giveUpMs: 6000 }),
    ]);
    assert.ok(anon.closedAfterMs !== null && anon.closedAfterMs < 1000, `unauthenticated slow body: connection closed after ${anon.closedAfterMs} ms (null: still open after 6 s)`);
    assert.match(anon.response, /^HTTP\/1\.1 401 /);
    assert.ok(authed.closedAfterMs !== null && authed.closedAfterMs < 2500, `authenticated slow body: connection closed after ${authed.closedAfterMs} ms (null: still open after 6 s)`);
    assert.ok(authed.closedAfterMs >= 900, `closed after ${authed.closedAfterMs} ms: before the 1 s deadline`);
    assert.match(authed.response, /^HTTP\/1\.1 408 /);
    assert.match(authed.response, /--body-read-timeout/);
    // The server still serves.
    const c = await connectHttp(server, { token, t });
    assert.ok(c.tools.length > 0);
  });

  // Node's fetch writes the body while the answer arrives; a server that closed at once under
  // it made the upload fail with ECONNRESET, and fetch gave up on the 413 (4 times in 5).
  it('answers 413 to an 8 MiB body sent with fetch, and fetch reads it, every time', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ authToken: token, t });
    const body = JSON.stringify({ ...initialize(1), pad: 'x'.repeat(8 << 20) });
    for (let i = 0; i < 8; i++) {
      const r = await fetch(server.mcpUrl, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
        body,
      });
      assert.equal(r.status, 413, `try ${i}`);
      const answer = await r.json();
      assert.equal(answer.error?.code, -32600, JSON.stringify(answer));
      assert.match(answer.error.message, /--max-body-bytes/);
    }
    const health = await fetch(server.healthUrl);
    assert.equal(health.status, 200, 'still serving');
  });

  it('closes connections over --max-conns-per-ip at once and keeps serving', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--max-conns-per-ip', '3'], t });
    const held = await Promise.all([openConn(server), openConn(server), openConn(server)]);
    const extra = await openConn(server);
    await within(extra.closed, 2000, 'the fourth connection from one address was not closed');
    held[0].sock.destroy();
    await held[0].closed;
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(server.healthUrl, { headers: { Connection: 'close' } });
    assert.equal(res.status, 200, 'a connection slot given back is usable again');
    for (const h of held) h.sock.destroy();
  });

  it('holds connections over --max-conns until one closes', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--max-conns', '2', '--max-conns-per-ip', '0'], t });
    const held = await Promise.all([openConn(server), openConn(server)]);
    const waiting = await openConn(server); // the kernel completes the handshake; the server does not accept it yet
    const { host } = new URL(server.base);
    waiting.sock.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(waiting.data(), '', 'a third connection was served while two were open under --max-conns 2');
    held[0].sock.destroy();
    await within(waiting.closed, 3000, 'the waiting connection was not served once a slot was free');
    assert.match(waiting.data(), /^HTTP\/1\.1 200 /);
    held[1].sock.destroy();
  });
});

describe('hardening: clientInfo clipped and escaped', { concurrency: true }, () => {
  it('stdio: a 1 MB client name is clipped in every audit record', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const audit = path.join(dir, 'audit.jsonl');
    const p = spawnRaw(['--sandbox', '--audit-log', audit, '--max-body-bytes', '2097152']);
    t.after(() => p.kill('SIGKILL'));
    const huge = 'n'.repeat(1 << 20);
    p.send(initialize(1, { name: huge, version: 'v'.repeat(5000) }));
    await p.waitFor((m) => m.id === 1);
    p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    for (let i = 0; i < 20; i++) p.send(callTool(100 + i, 'delete_run', { run_id: ZERO_ID })); // refused: not found
    await p.waitFor((m) => m.id === 119);
    p.child.stdin.end();
    await p.exited;
    const recs = auditRecords(audit);
    assert.equal(recs.length, 20, `20 refused deletes, ${recs.length} audit records`);
    for (const r of recs) {
      assert.equal([...r.client_name].length, 200, 'client_name clipped to 200 characters');
      assert.ok(r.client_name.endsWith('…'), 'a clipped name says so');
      assert.ok(r.client_version.endsWith('…') && [...r.client_version].length === 200);
    }
    assert.ok(readFileSync(audit).length < 40_000, `audit file is ${readFileSync(audit).length} bytes for 20 records`);
  });

  it('HTTP: 100 sessions with 1 MB client names keep memory bounded and audit clipped names', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const audit = path.join(dir, 'audit.jsonl');
    const server = await startHttpServer({ args: ['--sandbox', '--audit-log', audit, '--max-body-bytes', '2097152'], t });
    const huge = 'n'.repeat(1 << 20);
    const first = await post(server, initialize(1, { name: huge, version: '1' }));
    assert.equal(first.status, 200, first.text);
    const session = first.headers.get('mcp-session-id');
    await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { session });
    const before = rssKB(server.child.pid);
    for (let i = 0; i < 100; i++) {
      const r = await post(server, initialize(1, { name: huge + i, version: '1' }));
      assert.equal(r.status, 200, r.text);
    }
    const grownMB = (rssKB(server.child.pid) - before) / 1024;
    t.diagnostic(`RSS grew ${grownMB.toFixed(1)} MB over 100 sessions with 1 MB client names`);
    assert.ok(grownMB < 60, `RSS grew ${grownMB.toFixed(1)} MB over 100 sessions with 1 MB names (unclipped: ~140 MB)`);
    const del = await post(server, callTool(2, 'delete_run', { run_id: ZERO_ID }), { session });
    assert.equal(del.status, 200, del.text);
    const recs = auditRecords(audit);
    assert.ok(recs.length >= 1);
    for (const r of recs) assert.ok([...r.client_name].length <= 200 && r.client_name.endsWith('…'), `client_name of ${[...r.client_name].length} characters`);
  });

  it('escapes bidi controls in the audit file and in JSON logs', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const audit = path.join(dir, 'audit.jsonl');
    const bidi = 'evil\u202Etxt.exe\u2066x\u2069\u200B';
    const rawBidi = /[\u202A-\u202E\u2066-\u2069\u200B]/;
    // Audit file.
    const a = spawnRaw(['--sandbox', '--audit-log', audit]);
    t.after(() => a.kill('SIGKILL'));
    a.send(initialize(1, { name: bidi, version: '\u202E1' }));
    await a.waitFor((m) => m.id === 1);
    a.send(callTool(2, 'delete_run', { run_id: ZERO_ID }));
    await a.waitFor((m) => m.id === 2);
    a.child.stdin.end();
    await a.exited;
    const text = readFileSync(audit, 'utf8');
    assert.doesNotMatch(text, rawBidi, 'a raw bidi or format character in the audit file');
    assert.match(text, /\\u202e/);
    assert.equal(auditRecords(audit)[0].client_name, bidi, 'the escaped record still decodes to the name sent');
    // JSON logs (the audit goes to the log when there is no --audit-log).
    const l = spawnRaw(['--sandbox', '--log-format', 'json']);
    t.after(() => l.kill('SIGKILL'));
    l.send(initialize(1, { name: bidi, version: '1' }));
    await l.waitFor((m) => m.id === 1);
    l.send(callTool(2, 'delete_run', { run_id: ZERO_ID }));
    await l.waitFor((m) => m.id === 2);
    l.child.stdin.end();
    await l.exited;
    assert.match(l.stderr(), /"audit"/);
    assert.doesNotMatch(l.stderr(), rawBidi, 'a raw bidi or format character in the JSON log');
    assert.match(l.stderr(), /evil\\u202etxt\.exe/);
  });
});

describe('hardening: the HTTP session cap', { concurrency: true }, () => {
  it('GET /mcp without a session gets 400 and takes no slot; failed initializes take none either', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--max-sessions', '3'], t });
    const gets = await Promise.all(Array.from({ length: 50 }, () => fetch(server.mcpUrl, { headers: { Accept: 'text/event-stream' } })));
    for (const g of gets) {
      assert.equal(g.status, 400);
      assert.match(await g.text(), /Mcp-Session-Id/);
    }
    const unknown = await fetch(server.mcpUrl, { headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': 'mcp-session-00000000-0000-4000-8000-000000000000' } });
    assert.equal(unknown.status, 404, 'a GET with a session ID the server never issued opens nothing');
    await unknown.text();
    for (let i = 0; i < 10; i++) {
      const bad = await post(server, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: 123, capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
      assert.match(bad.text, /"error"/);
    }
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await connectHttp(server, { t }));
    for (const c of clients) assert.ok(c.tools.length > 0);
    const fourth = await post(server, initialize(1));
    assert.equal(fourth.status, 503, 'the cap still holds at 3');
  });

  it('a GET that declares protocol 2026-07-28 gets 405: that revision has no GET stream', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--max-sessions', '3'], t });
    const res = await fetch(server.mcpUrl, { headers: { Accept: 'text/event-stream', 'Mcp-Protocol-Version': '2026-07-28' } });
    assert.equal(res.status, 405);
  });
});

describe('hardening: strict JSON-RPC', { concurrency: true }, () => {
  it('stdio: tools/call before initialize does not run (delete_run with --confirm off deletes nothing)', async (t) => {
    const p = spawnRaw(['--sandbox', '--confirm', 'off']);
    t.after(() => p.kill('SIGKILL'));
    // 2026-07-28 requests carry their _meta and need no handshake: use one to find an archived run.
    p.send(callTool(1, 'list_runs', { archived: 'only' }, { _meta: MODERN_META }));
    const listed = await p.waitFor((m) => m.id === 1);
    const run = listed.result.structuredContent.runs[0];
    assert.ok(run?.id, JSON.stringify(listed));
    // The same request without _meta is a pre-2026 request: initialize must come first.
    p.send(callTool(2, 'delete_run', { run_id: run.id }));
    const refused = await p.waitFor((m) => m.id === 2);
    assert.equal(refused.error?.code, -32600, JSON.stringify(refused));
    assert.match(refused.error.message, /initialize/);
    // A 2026-07-28 request without the required _meta.clientCapabilities is refused too.
    p.send(callTool(3, 'delete_run', { run_id: run.id }, { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }));
    const noCaps = await p.waitFor((m) => m.id === 3);
    assert.equal(noCaps.error?.code, -32602, JSON.stringify(noCaps));
    // A failed initialize is no handshake either.
    p.send({ jsonrpc: '2.0', id: 4, method: 'initialize', params: { protocolVersion: 123, capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    assert.ok((await p.waitFor((m) => m.id === 4)).error);
    p.send(callTool(5, 'delete_run', { run_id: run.id }));
    assert.equal((await p.waitFor((m) => m.id === 5)).error?.code, -32600);
    // ping is allowed before initialize.
    p.send({ jsonrpc: '2.0', id: 6, method: 'ping' });
    assert.deepEqual((await p.waitFor((m) => m.id === 6)).result, {});
    // After initialize the run is still there.
    p.send(initialize(7));
    await p.waitFor((m) => m.id === 7);
    p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    p.send(callTool(8, 'get_run', { run_id: run.id }));
    const got = await p.waitFor((m) => m.id === 8);
    assert.ok(!got.result?.isError, `the run was deleted before any handshake: ${JSON.stringify(got)}`);
    assert.equal(got.result.structuredContent.run.id, run.id);
  });

  it('SSE: tools/call before initialize on a fresh /sse session does not run', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--confirm', 'off'], t });
    const ac = new AbortController();
    t.after(() => ac.abort());
    const stream = await fetch(server.sseUrl, { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
    const reader = stream.body.getReader();
    let seen = '';
    while (!/sessionId=[^\s]+/.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
    const endpoint = new URL(seen.match(/data: (\S+)/)[1], server.base);
    const send = (msg) => fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(msg) });
    const before = await send(callTool(1, 'list_runs', { archived: 'only' }));
    assert.equal(before.status, 400);
    const body = await before.json();
    assert.equal(body.error?.code, -32600, JSON.stringify(body));
    assert.equal(body.id, 1);
    assert.equal((await send(initialize(2))).status, 202, 'initialize goes through');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await send(callTool(3, 'list_runs', { archived: 'only' }))).status, 202, 'after initialize the call is accepted');
  });

  it('stdio: echoes ids exactly, refuses object/array/boolean/null/fraction ids and batches with -32600', async (t) => {
    const p = spawnRaw(['--sandbox']);
    t.after(() => p.kill('SIGKILL'));
    p.send('{"jsonrpc":"2.0","id":9007199254740993,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}');
    assert.ok(await waitRawLine(p, '9007199254740993'));
    p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    // An escaped string id comes back as the same string ("\u0041" is "A"), as JSON compares them.
    for (const [id, echoed] of [['123456789012345678901234'], ['-9007199254740993'], ['"9007199254740993"'], ['"\\u0041"', '"A"']]) {
      p.send(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"${ZERO_ID}"}}}`);
      const line = await waitRawLine(p, echoed ?? id);
      assert.match(line, /"result"/, line);
    }
    // MCP: "Request ID MUST be a string or integer"; 1.50 would come back from mcp-go as 1.5.
    for (const id of ['{"a":1}', '[1]', 'true', 'false', 'null', '1.50']) p.send(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`);
    p.send('[{"jsonrpc":"2.0","id":50,"method":"ping"},{"jsonrpc":"2.0","id":51,"method":"ping"}]');
    p.send({ jsonrpc: '2.0', id: 60, method: 'ping' });
    await p.waitFor((m) => m.id === 60);
    const refusals = p.lines().map((l) => JSON.parse(l)).filter((m) => m.id === null);
    assert.equal(refusals.length, 7, p.stdout());
    for (const r of refusals) assert.equal(r.error?.code, -32600, JSON.stringify(r));
    assert.match(refusals.at(-1).error.message, /batch/);
  });

  it('HTTP: echoes ids exactly, refuses bad ids and batches with -32600', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox'], t });
    const init = await post(server, '{"jsonrpc":"2.0","id":9007199254740993,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}');
    assert.match(init.text, /^\{"jsonrpc":"2.0","id":9007199254740993,"result"/);
    const session = init.headers.get('mcp-session-id');
    await post(server, { jsonrpc: '2.0', method: 'notifications/initialized' }, { session });
    for (const id of ['123456789012345678901234', '7', '"x"']) {
      const r = await post(server, `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"get_run","arguments":{"run_id":"${ZERO_ID}"}}}`, { session });
      assert.ok(r.text.includes(`"id":${id},`), `id ${id} came back as ${r.text.slice(0, 80)}`);
    }
    // On the stream of a 2026-07-28 request too.
    const modern = await post(server, `{"jsonrpc":"2.0","id":9007199254740995,"method":"tools/list","params":{"_meta":${JSON.stringify(MODERN_META)}}}`,
      { headers: { 'Mcp-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/list' } });
    assert.ok(modern.text.includes('"id":9007199254740995'), modern.text.slice(0, 200));
    for (const id of ['{"a":1}', '[1]', 'true', 'null', '1.50', '1e2']) {
      const r = await post(server, `{"jsonrpc":"2.0","id":${id},"method":"ping"}`, { session });
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.text).error.code, -32600, `${id}: ${r.text}`);
    }
    const batch = await post(server, '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', { session });
    assert.equal(JSON.parse(batch.text).error.code, -32600, batch.text);
  });
});
