// URL-mode elicitation (MCP 2025-11-25; issue 21 point 3): a client that declares
// elicitation.url gets the approval page's address in elicitation/create mode "url". The
// test's handler plays the person: it opens the address (headless Chromium on stdio, plain
// HTTP requests following the page's form on HTTP), decides there, and the same delete call
// acts on the decision. The address is never in a result, the audit log or stderr.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';
import { ElicitationCompleteNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { startClient, startHttpServer, startSandbox, connectHttp, archivedRun, archivedTemplate, listRuns, listTemplates, randomToken, tempDir, textOf, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

const CHROMIUM = '/usr/bin/chromium';
const URL_ONLY = { elicitation: { url: {} } };
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

/** A browser with a fresh profile, closed when the test ends. */
async function browser(t) {
  const ctx = await chromium.launchPersistentContext(tempDir('tallyfy-urlelicit-chromium-').dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 420, height: 900 },
  });
  t.after(() => ctx.close());
  return ctx;
}

/** The person, in Chromium: opens the page, types the name and approves, or declines. */
async function decideInBrowser(ctx, url, { approve, name }) {
  const page = await ctx.newPage();
  await page.goto(url);
  if (approve) {
    await page.fill('#confirm', name);
    await page.click('#approve');
  } else {
    await page.click('#decline');
  }
  const done = page.locator('main').filter({ hasText: approve ? /Approved by/ : /Declined by/ });
  await done.waitFor({ timeout: 20_000 });
  return done.textContent();
}

/** Asserts that nothing the model or the log sees carries the page's address or its secret. */
function assertNoLink(link, { res, audit, stderr }) {
  const secret = new URL(link).pathname.split('/').pop();
  const seen = JSON.stringify({ content: res.content, structuredContent: res.structuredContent });
  for (const [what, text] of [['the result', seen], ['the audit log', audit], ['stderr', stderr]]) {
    assert.ok(!text.includes(link) && !text.includes(secret), `${what} carries the approval page's address`);
  }
}

/** A stdio client that declares URL-mode elicitation only; answer(params) plays the person. */
async function urlClient(t, args, answer) {
  const asked = [];
  const pending = [];
  const c = await startClient({
    args,
    capabilities: URL_ONLY,
    onElicit: async (req) => {
      asked.push(req.params);
      // The specification's order: the client asks the person, who accepts to open the
      // page; the decision comes later, on the page.
      pending.push(answer(req.params));
      return { action: 'accept' };
    },
    t,
  });
  const completed = [];
  c.client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => { completed.push(n.params.elicitationId); });
  return { ...c, asked, pending, completed };
}

describe('URL-mode elicitation carries the approval page', { concurrency: 2 }, () => {
  it('stdio: the person approves on the page in Chromium and the same call deletes; the address reaches the client only', async (t) => {
    const audit = path.join(tempDir().dir, 'audit.jsonl');
    const ctx = await browser(t);
    let name = '';
    // --approval-browser false: the server must not need to open a browser itself.
    const c = await urlClient(t, ['--sandbox', '--audit-log', audit, '--approval-browser', 'false'],
      (params) => decideInBrowser(ctx, params.url, { approve: true, name }));
    const run = await archivedRun(c);
    name = run.name;

    const res = await c.call('delete_run', { run_id: run.id });
    assert.ok(!res.isError, textOf(res));
    assert.equal(c.asked.length, 1, 'the client was not asked exactly once');
    const params = c.asked[0];
    assert.equal(params.mode, 'url');
    assert.match(params.url, /^http:\/\/127\.0\.0\.1:\d+\/approve\/[0-9a-f]+\/[0-9a-f]{64}$/);
    assert.ok(params.message.includes(run.name) && params.message.includes(run.id), params.message);
    const pageText = await c.pending[0];
    assert.match(pageText, /goes ahead now/);

    const sc = res.structuredContent;
    assert.equal(sc.status, 'deleted', JSON.stringify(sc));
    assert.equal(sc.confirmation, 'approval_page');
    assert.equal(sc.confirmed_by, os.userInfo().username);
    assert.equal(sc.approval_id, params.elicitationId);
    assert.strictEqual((await c.call('get_run', { run_id: run.id })).isError, true, 'the run is still there');
    assert.ok(!(await listRuns(c, 'only')).some((x) => x.id === run.id));
    assert.deepEqual(c.completed, [params.elicitationId], 'no notifications/elicitation/complete for the page');

    const log = readFileSync(audit, 'utf8');
    const recs = log.trim().split('\n').map((l) => JSON.parse(l));
    const approval = recs.find((r) => r.outcome === 'approval');
    assert.equal(approval?.confirmation, 'approval_page', log);
    assert.equal(approval.approval.approver, os.userInfo().username);
    const deleted = recs.find((r) => r.tool === 'delete_run' && r.outcome === 'ok');
    assert.equal(deleted?.confirmation, 'approval_page', log);
    assertNoLink(params.url, { res, audit: log, stderr: c.stderr() });
  });

  it('stdio: declined on the page, nothing is deleted and the same call says so', async (t) => {
    const audit = path.join(tempDir().dir, 'audit.jsonl');
    const ctx = await browser(t);
    const c = await urlClient(t, ['--sandbox', '--audit-log', audit, '--approval-browser', 'false'],
      (params) => decideInBrowser(ctx, params.url, { approve: false }));
    const tpl = await archivedTemplate(c);

    const res = await c.call('delete_template', { template_id: tpl.id });
    assert.ok(!res.isError, textOf(res));
    assert.equal(res.structuredContent.status, 'cancelled', JSON.stringify(res.structuredContent));
    assert.match(textOf(res), /declined on the approval page: nothing was deleted/);
    await c.pending[0];
    assert.ok((await listTemplates(c, 'only')).some((x) => x.id === tpl.id), 'the template left the archived list');
    assertNoLink(c.asked[0].url, { res, audit: readFileSync(audit, 'utf8'), stderr: c.stderr() });
  });

  it('HTTP: the page is /approve/{id} on the server; the caller approves with their passphrase through the form, and the same call deletes', async (t) => {
    const sb = await startSandbox({ t });
    const { dir, cleanup } = tempDir('tallyfy-urlelicit-');
    t.after(cleanup);
    const token = randomToken();
    const callers = path.join(dir, 'callers.json');
    const audit = path.join(dir, 'audit.jsonl');
    writeFileSync(callers, JSON.stringify({ callers: [
      { name: 'carol', token_sha256: sha256(token), tallyfy_token_env: 'CAROL_TALLYFY', approval_passphrase_sha256: sha256('carol pass') },
    ] }));
    const server = await startHttpServer({ args: [...sb.serverArgs, '--callers', callers, '--audit-log', audit], env: { CAROL_TALLYFY: SANDBOX_ADMIN_TOKEN }, t });
    let name = '';
    const asked = [];
    const pending = [];
    const c = await connectHttp(server, {
      token,
      capabilities: URL_ONLY,
      onElicit: async (req) => {
        asked.push(req.params);
        pending.push(approveByForm(req.params.url, name, server.base));
        return { action: 'accept' };
      },
      t,
    });
    const run = await archivedRun(c);
    name = run.name;

    const res = await c.call('delete_run', { run_id: run.id });
    assert.ok(!res.isError, textOf(res));
    assert.equal(asked.length, 1);
    assert.equal(asked[0].mode, 'url');
    assert.equal(asked[0].url, `${server.base}/approve/${asked[0].elicitationId}`);
    assert.match(await pending[0], /Approved by carol/);
    assert.equal(res.structuredContent.status, 'deleted', JSON.stringify(res.structuredContent));
    assert.equal(res.structuredContent.confirmation, 'approval_page');
    assert.equal(res.structuredContent.confirmed_by, 'carol');
    assert.strictEqual((await c.call('get_run', { run_id: run.id })).isError, true, 'the run is still there');
    const seen = JSON.stringify({ content: res.content, structuredContent: res.structuredContent });
    assert.ok(!seen.includes('/approve/'), `the result carries the page's address: ${seen}`);
  });
});

/** The person, over plain HTTP: GETs the page, then posts its form with the CSRF token and cookie. */
async function approveByForm(url, name, base) {
  const page = await fetch(url);
  assert.equal(page.status, 200);
  const html = await page.text();
  const csrf = html.match(/name="csrf" value="([0-9a-f]+)"/)?.[1];
  assert.ok(csrf, 'the page has no CSRF token');
  const cookie = page.headers.get('set-cookie').split(';')[0];
  const form = new URLSearchParams({ csrf, approver: 'carol', passphrase: 'carol pass', confirm: name, decision: 'approve' });
  const done = await fetch(url, { method: 'POST', body: form, headers: { Cookie: cookie, Origin: base, 'Content-Type': 'application/x-www-form-urlencoded' } });
  const text = await done.text();
  assert.equal(done.status, 200, text);
  return text;
}
