// HTTP transports (--transport http): streamable HTTP at /mcp and legacy SSE at /sse + /message,
// driven by the official SDK's HTTP client transports and by plain fetch / node:http for what the
// SDK hides (status codes, headers, a forged Host).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import {
  startClient, startHttpServer, startSandbox, connectHttp, randomToken, activeRun, archivedTemplate, listRuns,
  listTemplates, textOf, within, ALL_TOOLS, SANDBOX_ADMIN_TOKEN,
} from './lib.mjs';

const TRANSPORTS = ['streamable', 'sse'];

const INIT = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-e2e', version: '1' } },
};

/** POSTs an initialize request to /mcp with extra headers; returns { status, headers, body }. */
async function postInit(server, headers = {}) {
  const res = await fetch(server.mcpUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(INIT),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** A request through node:http, which (unlike fetch) lets the test set Host. */
function rawRequest(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        // /sse and /mcp GET stream forever when accepted: the status line is the answer.
        if (res.statusCode === 200 && /text\/event-stream/.test(res.headers['content-type'] ?? '')) req.destroy();
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('close', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
    });
    req.on('error', (err) => (err.code === 'ECONNRESET' ? null : reject(err)));
    req.end(body);
  });
}

function assert401(r, what) {
  assert.equal(r.status, 401, `${what}: status ${r.status} ${r.body}`);
  const www = typeof r.headers.get === 'function' ? r.headers.get('www-authenticate') : r.headers['www-authenticate'];
  assert.match(www ?? '', /^Bearer\b/i, `${what}: WWW-Authenticate is ${www}`);
}

async function getRun(c, id) {
  const res = await c.call('get_run', { run_id: id });
  assert.ok(!res.isError, `get_run: ${textOf(res)}`);
  return res.structuredContent.run;
}

describe('HTTP transports', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: with the bearer token, lists the 15 tools, gets, archives and activates a run`, async (t) => {
      const token = randomToken();
      const server = await startHttpServer({ authToken: token, t });
      const c = await connectHttp(server, { transport, token, t });

      assert.deepEqual(c.tools.map((x) => x.name).sort(), ALL_TOOLS);
      if (transport === 'streamable') assert.ok(c.transport.sessionId, 'no Mcp-Session-Id');

      const run = await activeRun(c);
      const seen = await getRun(c, run.id);
      assert.equal(seen.id, run.id);
      assert.equal(seen.name, run.name);
      assert.strictEqual(seen.archived, false);

      const archived = await c.call('archive_run', { run_id: run.id });
      assert.ok(!archived.isError, `archive_run: ${textOf(archived)}`);
      assert.strictEqual(archived.structuredContent.changed, true);
      assert.equal(archived.structuredContent.resource.state, 'archived');
      assert.deepEqual(archived.structuredContent.undo, { tool: 'activate_run', arguments: { run_id: run.id } });
      assert.strictEqual((await getRun(c, run.id)).archived, true);

      const back = await c.call('activate_run', { run_id: run.id });
      assert.ok(!back.isError, `activate_run: ${textOf(back)}`);
      assert.strictEqual(back.structuredContent.changed, true);
      assert.equal(back.structuredContent.resource.state, 'live');
      assert.equal(back.structuredContent.resource.status, run.status);
      const after = await getRun(c, run.id);
      assert.strictEqual(after.archived, false);
      assert.equal(after.status, run.status);

      assert.ok(!server.stderr().includes(token), 'the caller token is in the log');
    });
  }

  it('refuses a missing, wrong or non-Bearer token with 401 and WWW-Authenticate: Bearer (MCP_AUTH_TOKEN)', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ env: { MCP_AUTH_TOKEN: token }, t });

    for (const [what, headers] of [
      ['no Authorization', {}],
      ['a wrong token', { Authorization: `Bearer ${randomToken()}` }],
      ['the token with one character more', { Authorization: `Bearer ${token}x` }],
      ['an empty Bearer', { Authorization: 'Bearer ' }],
      ['Basic scheme', { Authorization: `Basic ${Buffer.from(`user:${token}`).toString('base64')}` }],
      ['the bare token', { Authorization: token }],
    ]) {
      const r = await postInit(server, headers);
      assert401(r, `POST /mcp with ${what}`);
      assert.equal(JSON.parse(r.body).error?.code, -32001, r.body);
      assert.match(JSON.parse(r.body).error?.message, /the server's MCP auth token \(--auth-token\)/, r.body);
      assert.doesNotMatch(r.body, /callers file/, r.body);
      assert.ok(!r.body.includes(token), 'the 401 body shows the token');
    }
    assert401(await rawRequest(server.sseUrl, { headers: { Accept: 'text/event-stream' } }), 'GET /sse without token');
    assert401(await rawRequest(server.mcpUrl, { headers: { Accept: 'text/event-stream', Authorization: 'Bearer nope' } }), 'GET /mcp with a wrong token');
    assert401(await rawRequest(`${server.base}/message?sessionId=x`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(INIT),
    }), 'POST /message without token');

    // The scheme is case-insensitive (RFC 9110); the right token gets in.
    const ok = await postInit(server, { Authorization: `bearer ${token}` });
    assert.equal(ok.status, 200, ok.body);

    // The SDK clients fail to connect, and say why, instead of hanging.
    for (const transport of TRANSPORTS) {
      for (const bad of [undefined, randomToken()]) {
        await assert.rejects(
          within(connectHttp(server, { transport, token: bad }), 10_000, `${transport} connect`),
          /401|Unauthorized/i,
          `${transport} with ${bad ? 'a wrong' : 'no'} token`,
        );
      }
    }
    assert.ok(!server.stderr().includes(token), 'the caller token is in the log');
  });

  it('answers 403 to a foreign Origin or Host (DNS rebinding), token or not; loopback names pass', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ authToken: token, t });
    const port = new URL(server.base).port;
    const auth = { Authorization: `Bearer ${token}` };

    const evilOrigin = await postInit(server, { ...auth, Origin: 'https://evil.example' });
    assert.equal(evilOrigin.status, 403, evilOrigin.body);
    assert.equal(JSON.parse(evilOrigin.body).error?.code, -32600);
    assert.equal((await postInit(server, { ...auth, Origin: 'null' })).status, 403, 'Origin: null');
    assert.equal((await postInit(server, { ...auth, Origin: `http://localhost.evil.example:${port}` })).status, 403);
    assert.equal((await postInit(server, { Origin: 'https://evil.example' })).status, 403, 'without token: 403 before 401');
    assert.equal((await rawRequest(server.sseUrl, { headers: { ...auth, Origin: 'https://evil.example' } })).status, 403, 'GET /sse');
    assert.equal((await rawRequest(`${server.base}/message?sessionId=x`, {
      method: 'POST', headers: { ...auth, Origin: 'https://evil.example', 'Content-Type': 'application/json' }, body: '{}',
    })).status, 403, 'POST /message');

    for (const origin of [`http://localhost:${port}`, `http://127.0.0.1:${port}`, 'http://localhost:6274']) {
      const r = await postInit(server, { ...auth, Origin: origin });
      assert.equal(r.status, 200, `Origin ${origin}: ${r.body}`);
    }

    const body = JSON.stringify(INIT);
    const post = (host, headers = auth) => rawRequest(server.mcpUrl, {
      method: 'POST',
      headers: { ...headers, Host: host, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body,
    });
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`]) {
      const r = await post(host);
      assert.equal(r.status, 403, `Host ${host}: ${r.body}`);
      assert.match(r.body, /Host/);
    }
    assert.equal((await post('evil.example', {})).status, 403, 'Host without token: 403 before 401');
    assert.equal((await rawRequest(server.sseUrl, { headers: { ...auth, Host: 'evil.example' } })).status, 403, 'GET /sse, Host');
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `LOCALHOST:${port}`]) {
      const r = await post(host);
      assert.equal(r.status, 200, `Host ${host}: ${r.body}`);
    }
  });

  it('/healthz answers 200 without auth and shows no token', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ authToken: token, t });
    const res = await fetch(server.healthUrl);
    assert.equal(res.status, 200);
    const text = await res.text();
    const body = JSON.parse(text);
    assert.equal(body.status, 'ok');
    assert.equal(body.name, 'tallyfy-mcp');
    const all = text + JSON.stringify([...res.headers]);
    assert.ok(!all.includes(token), '/healthz shows the caller token');
    assert.ok(!all.includes(SANDBOX_ADMIN_TOKEN), '/healthz shows the Tallyfy token');
  });

  it('streamable: an elicitation-capable client deletes an archived template in ONE call by typing the name', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ authToken: token, t });
    const asked = [];
    let typed = '';
    const c = await connectHttp(server, {
      transport: 'streamable',
      token,
      t,
      capabilities: { elicitation: {} },
      onElicit: async (req) => { asked.push(req.params); return { action: 'accept', content: { name: typed } }; },
    });
    const tpl = await archivedTemplate(c);
    typed = tpl.title;

    const res = await within(c.call('delete_template', { template_id: tpl.id }), 10_000, 'delete_template');
    assert.ok(!res.isError, textOf(res));
    assert.equal(res.structuredContent.status, 'deleted', JSON.stringify(res.structuredContent));
    assert.equal(res.structuredContent.confirmation, 'elicitation');
    assert.equal(asked.length, 1, 'the person was not asked exactly once');
    assert.ok(asked[0].message.includes(tpl.title), asked[0].message);
    assert.strictEqual((await c.call('get_template', { template_id: tpl.id })).isError, true, 'the template is still there');
  });

  it('SSE (--confirm auto --confirm-allow-token): the same client gets confirmation_required, then deletes with the token, never hanging', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ args: ['--sandbox', '--confirm', 'auto', '--confirm-allow-token'], authToken: token, t });
    const asked = [];
    const c = await connectHttp(server, {
      transport: 'sse',
      token,
      t,
      capabilities: { elicitation: {} },
      onElicit: async (req) => { asked.push(req.params); return { action: 'accept', content: { name: 'whatever' } }; },
    });
    const tpl = await archivedTemplate(c);

    const first = await within(c.call('delete_template', { template_id: tpl.id }), 10_000, 'delete_template over SSE');
    assert.ok(!first.isError, textOf(first));
    const s = first.structuredContent;
    assert.equal(s.status, 'confirmation_required', JSON.stringify(s));
    assert.ok(typeof s.confirm_token === 'string' && s.confirm_token.length > 0, 'no confirm_token');
    assert.equal(s.preview?.id, tpl.id);
    assert.equal(asked.length, 0, 'the server asked over SSE, which cannot carry the question');
    assert.ok((await c.call('get_template', { template_id: tpl.id })).structuredContent?.template?.archived, 'deleted by the first call');

    const second = await within(c.call('delete_template', { template_id: tpl.id, confirm_token: s.confirm_token }), 10_000, 'second call');
    assert.ok(!second.isError, textOf(second));
    assert.equal(second.structuredContent.status, 'deleted');
    assert.strictEqual((await c.call('get_template', { template_id: tpl.id })).isError, true, 'the template is still there');
  });
});

describe('HTTP graceful shutdown', { concurrency: true }, () => {
  it('SIGTERM with open streamable and SSE sessions: exits 0 within --shutdown-timeout', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ args: ['--sandbox', '--shutdown-timeout', '3s'], authToken: token, t });
    const a = await connectHttp(server, { transport: 'streamable', token, t });
    const b = await connectHttp(server, { transport: 'sse', token, t });
    await a.call('list_runs', {});
    await b.call('list_runs', {});

    const t0 = Date.now();
    server.kill('SIGTERM');
    const { code, signal } = await within(server.exited, 4_000, 'exit after SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr());
    assert.ok(Date.now() - t0 < 3_500, `took ${Date.now() - t0} ms`);
    assert.match(server.stderr(), /shutting down/);
    await assert.rejects(fetch(server.healthUrl), 'still listening after exit');
  });

  it('SIGTERM during slow calls on both transports: the calls finish and answer, then exit 0', async (t) => {
    // The demo Tallyfy on its own, every DELETE (archive_run) held 3 s.
    const sb = await startSandbox({ faults: 'latency=3s:DELETE', t });
    const token = randomToken();
    const server = await startHttpServer({ args: [...sb.serverArgs, '--shutdown-timeout', '15s'], env: sb.serverEnv, authToken: token, t });
    const a = await connectHttp(server, { transport: 'streamable', token, t });
    const b = await connectHttp(server, { transport: 'sse', token, t });
    const runs = (await listRuns(a)).filter((r) => r.status === 'active');
    assert.ok(runs.length >= 2, 'fewer than two active runs');

    const started = Date.now();
    const calls = [a.call('archive_run', { run_id: runs[0].id }), b.call('archive_run', { run_id: runs[1].id })];
    await new Promise((r) => setTimeout(r, 1000)); // both calls are now waiting on the sandbox
    const t0 = Date.now();
    server.kill('SIGTERM');

    const results = await within(Promise.all(calls), 10_000, 'in-flight calls');
    for (const [i, res] of results.entries()) {
      assert.ok(!res.isError, `${i === 0 ? 'streamable' : 'SSE'} call: ${textOf(res)}`);
      assert.strictEqual(res.structuredContent.changed, true);
      assert.equal(res.structuredContent.resource.state, 'archived');
    }
    assert.ok(Date.now() - started >= 2_900, 'the calls were not slow: nothing was in flight');
    const { code, signal } = await within(server.exited, 10_000, 'exit after SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr());
    assert.ok(Date.now() - t0 >= 1_000, `exited ${Date.now() - t0} ms after SIGTERM: it did not wait for the calls`);
  });

  it('SIGTERM while the person is being asked to confirm a delete: nothing is deleted, exit 0 in time', async (t) => {
    const sb = await startSandbox({ t });
    const server = await startHttpServer({ args: [...sb.serverArgs, '--shutdown-timeout', '2s'], env: sb.serverEnv, t });
    let tpl;
    let asked = 0;
    const c = await connectHttp(server, {
      transport: 'streamable',
      t,
      capabilities: { elicitation: {} },
      onElicit: async () => {
        asked++;
        server.kill('SIGTERM'); // the person answers only after the server was told to stop
        await new Promise((r) => setTimeout(r, 300));
        return { action: 'accept', content: { name: tpl.title } };
      },
    });
    tpl = await archivedTemplate(c);
    const call = c.client.callTool({ name: 'delete_template', arguments: { template_id: tpl.id } }).then((res) => ({ res }), (err) => ({ err }));

    const { code, signal } = await within(server.exited, 8_000, 'exit after SIGTERM');
    assert.equal(asked, 1);
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr());
    await c.close();
    const r = await within(call, 5_000, 'the call to settle');
    assert.notEqual(r.res?.structuredContent?.status, 'deleted', 'deleted although the server was stopping');
    // The demo Tallyfy outlives the MCP server: the template must still be there, archived.
    const check = await startClient({ args: sb.serverArgs, env: sb.serverEnv, t });
    assert.ok((await listTemplates(check, 'only')).some((x) => x.id === tpl.id), 'the template was deleted');
    assert.match(server.stderr(), /record\.tool=delete_template .*record\.outcome=cancelled/, 'no audit record of the cancelled delete');
  });

  it('SIGTERM while a call hangs past --shutdown-timeout: exits 0 once the timeout is over', async (t) => {
    const sb = await startSandbox({ faults: 'hang:DELETE', t });
    const token = randomToken();
    const server = await startHttpServer({ args: [...sb.serverArgs, '--shutdown-timeout', '1s'], env: sb.serverEnv, authToken: token, t });
    const a = await connectHttp(server, { transport: 'streamable', token, t });
    const b = await connectHttp(server, { transport: 'sse', token, t });
    const run = await activeRun(a);

    const calls = [a, b].map((c) => c.client.callTool({ name: 'archive_run', arguments: { run_id: run.id } }).then(
      (res) => ({ res }), (err) => ({ err })));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    server.kill('SIGTERM');
    const { code, signal } = await within(server.exited, 5_000, 'exit after SIGTERM');
    const took = Date.now() - t0;
    assert.equal(signal, null);
    assert.equal(code, 0, server.stderr());
    assert.ok(took >= 900, `exited ${took} ms after SIGTERM, before --shutdown-timeout`);
    assert.match(server.stderr(), /shutdown timeout/i);
    await a.close();
    await b.close();
    for (const r of await within(Promise.all(calls), 5_000, 'the hung calls to settle')) {
      assert.ok(r.err || r.res.isError, `a hung call succeeded: ${JSON.stringify(r.res)}`);
    }
  });
});
