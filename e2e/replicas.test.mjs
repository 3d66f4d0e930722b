// Two replicas of the built binary sharing a real redis-server and a confirm key (--state,
// --confirm-key-file): a confirm token minted on one is redeemed on the other, works once across
// both, and permanent deletes fail closed while Redis is down.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { startHttpServer, startSandbox, connectHttp, archivedTemplate, archivedRun, randomToken, tempDir, textOf } from './lib.mjs';

const INSTALL = 'apt-get update && apt-get install -y redis-server';
const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!haveRedis && process.env.CI === 'true') {
  throw new Error(`redis-server is not installed, and CI must run the Redis tests: ${INSTALL}`);
}

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.on('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const answers = (port) => new Promise((resolve) => {
  const c = connect(port, '127.0.0.1');
  c.on('connect', () => c.write('PING\r\n'));
  c.on('data', (d) => { c.destroy(); resolve(d.toString().startsWith('+PONG')); });
  c.on('error', () => resolve(false));
});

/** A real redis-server on a free loopback port in a temporary directory; stop() and start() again. */
async function startRedis(t) {
  const port = await freePort();
  const { dir, cleanup } = tempDir('tallyfy-redis-');
  let child = null;
  const r = {
    url: `redis://127.0.0.1:${port}/0`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      for (let i = 0; i < 200 && !(await answers(port)); i++) await new Promise((res) => setTimeout(res, 25));
      assert.ok(await answers(port), `redis-server did not answer on port ${port}`);
    },
    async stop() {
      if (!child) return;
      const exited = new Promise((res) => child.on('close', res));
      child.kill('SIGKILL');
      await exited;
      child = null;
    },
  };
  await r.start();
  t.after(async () => { await r.stop(); cleanup(); });
  return r;
}

function keyFile(t) {
  const { dir, cleanup } = tempDir('tallyfy-key-');
  t.after(cleanup);
  const p = path.join(dir, 'confirm.key');
  writeFileSync(p, `${randomToken()}${randomToken()}\n`, { mode: 0o600 });
  return p;
}

async function askToken(c, tool, args) {
  const res = await c.call(tool, args);
  assert.ok(!res.isError && res.structuredContent.status === 'confirmation_required', `${tool}: ${textOf(res)}`);
  return res.structuredContent.confirm_token;
}

describe('two replicas sharing Redis', { concurrency: true, skip: haveRedis ? false : `redis-server is not installed; to run these tests: ${INSTALL}` }, () => {
  it('a token minted on A is redeemed on B, and works once across both', async (t) => {
    const redis = await startRedis(t);
    // Tallyfy fails the first permanent delete with a 500: the token is spent, the template stays.
    const sb = await startSandbox({ faults: '500#1:DELETE~/delete', t });
    const token = randomToken();
    const args = [...sb.serverArgs, '--state', redis.url, '--confirm-key-file', keyFile(t), '--confirm', 'token'];
    const [A, B] = await Promise.all([0, 1].map(() => startHttpServer({ args, env: sb.serverEnv, authToken: token, t })));
    const a = await connectHttp(A, { token, t });
    const b = await connectHttp(B, { token, t });
    const tpl = await archivedTemplate(a);

    let tok = await askToken(a, 'delete_template', { template_id: tpl.id });
    let res = await b.call('delete_template', { template_id: tpl.id, confirm_token: tok });
    assert.ok(res.isError && /still there/.test(textOf(res)), `redeem on B with Tallyfy failing: ${textOf(res)}`);
    res = await a.call('delete_template', { template_id: tpl.id, confirm_token: tok });
    assert.ok(res.isError && /already used/.test(textOf(res)), `replay on A: ${textOf(res)}`);

    tok = await askToken(a, 'delete_template', { template_id: tpl.id });
    res = await b.call('delete_template', { template_id: tpl.id, confirm_token: tok });
    assert.ok(!res.isError && res.structuredContent.status === 'deleted', `token from A on B: ${textOf(res)}`);
    res = await a.call('get_template', { template_id: tpl.id });
    assert.ok(res.isError && /no template with ID/i.test(textOf(res)), `after the delete: ${textOf(res)}`);
  });

  it('refuses permanent deletes while Redis is down, keeps reads, and recovers', async (t) => {
    const redis = await startRedis(t);
    const sb = await startSandbox({ t });
    const args = [...sb.serverArgs, '--state', redis.url, '--confirm-key-file', keyFile(t), '--confirm', 'token'];
    const A = await startHttpServer({ args, env: sb.serverEnv, t });
    const a = await connectHttp(A, { t });
    const run = await archivedRun(a);

    await redis.stop();
    let res = await a.call('delete_run', { run_id: run.id });
    assert.ok(res.isError && /shared state store \(--state\) is unreachable/.test(textOf(res)), `delete with Redis down: ${textOf(res)}`);
    res = await a.call('get_run', { run_id: run.id });
    assert.ok(!res.isError, `get with Redis down: ${textOf(res)}`);
    let health = await (await fetch(A.healthUrl)).json();
    assert.equal(health.status, 'degraded');
    assert.equal(health.state.status, 'degraded');
    assert.equal(health.state.error, undefined, 'the public /healthz must not show the store error');

    await redis.start();
    health = await (await fetch(A.healthUrl)).json();
    assert.equal(health.status, 'ok', JSON.stringify(health));
    const tok = await askToken(a, 'delete_run', { run_id: run.id });
    res = await a.call('delete_run', { run_id: run.id, confirm_token: tok });
    assert.ok(!res.isError && res.structuredContent.status === 'deleted', `delete after Redis restarted: ${textOf(res)}`);
  });

  it('--stateless: two replicas behind a round-robin balancer serve a client as one server', async (t) => {
    const redis = await startRedis(t);
    const sb = await startSandbox({ t });
    const args = [...sb.serverArgs, '--stateless', '--state', redis.url, '--confirm-key-file', keyFile(t), '--confirm', 'token'];
    const replicas = await Promise.all([0, 1].map(() => startHttpServer({ args, env: sb.serverEnv, t })));
    // A balancer with no stickiness: each request goes to the next replica.
    const hits = [0, 0];
    let next = 0;
    const lb = createHttpServer((req, res) => {
      const i = next++ % 2;
      hits[i]++;
      const up = new URL(replicas[i].base);
      const fwd = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      fwd.on('error', () => { res.statusCode = 502; res.end(); });
      req.pipe(fwd);
    });
    await new Promise((resolve) => lb.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => { lb.closeAllConnections(); lb.close(resolve); }));
    const base = `http://127.0.0.1:${lb.address().port}`;
    const c = await connectHttp({ base, mcpUrl: `${base}/mcp`, sseUrl: `${base}/sse`, stderr: () => replicas.map((r) => r.stderr()).join('\n') }, { t });

    const tpl = await archivedTemplate(c);
    const tok = await askToken(c, 'delete_template', { template_id: tpl.id });
    const res = await c.call('delete_template', { template_id: tpl.id, confirm_token: tok });
    assert.ok(!res.isError && res.structuredContent.status === 'deleted', `delete through the balancer: ${textOf(res)}`);
    assert.ok(hits[0] >= 2 && hits[1] >= 2, `both replicas must have served: ${hits}`);
  });
  it('two replicas with one Tallyfy token share its request budget through Redis', async (t) => {
    const redis = await startRedis(t);
    // Tallyfy as 5 requests a second per token; each replica paces at 3 a second (2 at once).
    // Alone each would stay under 5; together, without a shared bucket, they would not.
    const sb = await startSandbox({ extraArgs: ['--rate-limit', '5', '--latency', '20ms'], t });
    const token = randomToken();
    const args = [...sb.serverArgs, '--state', redis.url, '--confirm-key-file', keyFile(t), '--tallyfy-rate', '3'];
    const [A, B] = await Promise.all([0, 1].map(() => startHttpServer({ args, env: sb.serverEnv, authToken: token, t })));
    const a = await connectHttp(A, { token, t });
    const b = await connectHttp(B, { token, t });
    const started = Date.now();
    const calls = [a, b].flatMap((c) => Array.from({ length: 6 }, () => c.call('list_templates', {})));
    const results = await Promise.all(calls);
    const took = Date.now() - started;
    results.forEach((r) => assert.ok(!r.isError, textOf(r)));
    sb.child.kill('SIGTERM');
    await sb.exited;
    const m = sb.stderr().match(/sandbox: stopped.* requests=(\d+) rate_limited=(\d+)/);
    assert.ok(m, `no totals in the sandbox's log:\n${sb.stderr()}`);
    assert.equal(Number(m[2]), 0, `two replicas sharing one bucket of 3/s under 5/s: the sandbox refused ${m[2]} of ${m[1]} requests`);
    // 12 requests from one shared bucket: 2 at once, then one every 1/3 s.
    assert.ok(took >= 3000, `12 calls on two replicas finished in ${took} ms: the replicas did not share 3 a second`);
  });
});
