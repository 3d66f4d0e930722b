// The MCP App review of permanent deletes (issue 21 point 2; README "Confirming what cannot be
// undone"), black-box: the built binary behind the official TypeScript SDK client, which
// declares the MCP Apps extension; a host page built on @modelcontextprotocol/ext-apps'
// AppBridge renders the view from its ui:// resource in headless Chromium (playwright-core,
// the system browser) and proxies the view's calls to the app-only tools. A person's clicks are
// Playwright's. With E2E_SCREENSHOTS=1 the view's screenshots are written to docs/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { startClient, startHttpServer, connectHttp, runOnce, spawnRaw, textOf, tempDir, archivedTask, archivedRun, activeRun, listRuns, E2E_DIR, REPO_DIR } from './lib.mjs';

const EXT = 'io.modelcontextprotocol/ui';
const MIME = 'text/html;profile=mcp-app';
const APPS = { extensions: { [EXT]: { mimeTypes: [MIME] } } };
const CHROMIUM = '/usr/bin/chromium';

let hostBundle;
async function hostScript() {
  if (!hostBundle) {
    const esbuild = createRequire(path.join(E2E_DIR, 'package.json'))('esbuild');
    const out = await esbuild.build({ entryPoints: [path.join(E2E_DIR, 'app-host.js')], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2020', logLevel: 'warning' });
    hostBundle = out.outputFiles[0].text;
  }
  return hostBundle;
}

const isAppOnly = (tool) => Array.isArray(tool._meta?.ui?.visibility) && !tool._meta.ui.visibility.includes('model');

/** A browser with a fresh profile, closed when the test ends. */
async function browser(t) {
  const ctx = await chromium.launchPersistentContext(tempDir('tallyfy-app-chromium-').dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 800, height: 600 },
  });
  t.after(() => ctx.close());
  return ctx;
}

/**
 * Renders the view of a delete's first call (tool, args, its result) in the host page and
 * returns the page, the view's frame and the log of the view's tool calls.
 */
async function showView(t, c, tool, args, result, { intercept } = {}) {
  const listed = c.tools.find((x) => x.name === tool);
  const uri = listed?._meta?.ui?.resourceUri;
  assert.equal(uri, 'ui://tallyfy/delete', `${tool} names no view`);
  const { contents } = await c.client.readResource({ uri });
  assert.equal(contents[0].mimeType, MIME);
  const html = contents[0].text;

  const ctx = await browser(t);
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const calls = [];
  const modelContext = [];
  await page.exposeFunction('hostCallTool', async (params) => {
    calls.push(params);
    return (intercept && await intercept(params)) || c.client.callTool(params);
  });
  await page.exposeFunction('hostModelContext', async (params) => { modelContext.push(params); });
  await page.setContent(`<!doctype html><html><body style="margin:16px;font-family:sans-serif"><script>${await hostScript()}</script></body></html>`);
  const appTools = c.tools.filter(isAppOnly).map((x) => x.name);
  await page.evaluate((p) => window.startApp(p), { html, toolInput: args, toolResult: result, appTools });
  const view = page.frameLocator('iframe');
  return { page, view, calls, modelContext, errors };
}

async function screenshot(page, name) {
  if (process.env.E2E_SCREENSHOTS !== '1') return;
  await page.locator('iframe').screenshot({ path: path.join(REPO_DIR, 'docs', name) });
}

/** An Ed25519 signing key for approval records (--approval-key-file), in a new directory. */
function approvalKey() {
  const file = path.join(tempDir().dir, 'approval.pem');
  writeFileSync(file, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return file;
}

/** `tallyfy-mcp approvals verify` of an audit log: every executed delete has its approval. */
function assertVerifies(key, file) {
  const r = runOnce(['approvals', 'verify', '--approval-key-file', key, file]);
  assert.equal(r.code, 0, `approvals verify failed:\n${r.stdout}\n${r.stderr}`);
}

function auditRecords(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/** The model-visible result: what a host shows the model (content and structuredContent). */
function assertNoHandle(res, what) {
  const seen = JSON.stringify({ content: res.content, structuredContent: res.structuredContent });
  assert.ok(!seen.includes('tcf1.'), `${what}: the model-visible result carries a sealed token: ${seen}`);
  assert.ok(!('confirm_token' in (res.structuredContent ?? {})) && !('plan_token' in (res.structuredContent ?? {})), `${what}: a token field`);
}

async function waitStatus(view, pattern) {
  await view.locator('#status').filter({ hasText: pattern }).waitFor({ timeout: 20_000 });
  return view.locator('#status').textContent();
}

describe('MCP App review of permanent deletes (ext-apps host, headless Chromium)', { concurrency: 2 }, () => {
  for (const transport of ['stdio', 'streamable HTTP']) it(`single delete over ${transport}: the view shows the item, Delete deletes it, audited as confirmation=app`, async (t) => {
    const file = path.join(tempDir().dir, 'audit.jsonl');
    const key = approvalKey();
    const args = ['--sandbox', '--audit-log', file, '--approval-key-file', key];
    const c = transport === 'stdio'
      ? await startClient({ args, capabilities: APPS, t })
      : await connectHttp(await startHttpServer({ args, t }), { capabilities: APPS, t });
    const task = await archivedTask(c);
    const first = await c.call('delete_task', { task_id: task.id });
    assert.ok(!first.isError, textOf(first));
    assert.equal(first.structuredContent.status, 'confirmation_required');
    assert.equal(first.structuredContent.confirmation, 'app');
    assertNoHandle(first, 'delete_task');
    assert.match(textOf(first), /reviewing .* in the Tallyfy view/);

    const { page, view, calls, modelContext, errors } = await showView(t, c, 'delete_task', { task_id: task.id }, first);
    const del = view.locator('#delete');
    await del.filter({ hasText: 'Delete 1 item' }).waitFor({ timeout: 20_000 });
    assert.equal(await view.locator('#items tbody tr').count(), 1);
    const row = await view.locator('#items tbody tr').first().textContent();
    assert.ok(row.includes(task.title ?? task.name), `the row shows the item's name: ${row}`);
    assert.ok(row.includes('archived'), row);
    assert.match(await view.locator('#effect').textContent(), /1 item will be permanently deleted/);
    assert.ok(await view.locator('#count-label').isHidden(), 'no count to type for one item');
    if (transport === 'stdio') await screenshot(page, 'app-review-single.png');

    assert.notEqual((await c.call('get_task', { task_id: task.id })).isError, true, 'nothing deleted before the click');
    await del.click();
    await waitStatus(view, /permanently deleted/);
    assert.deepEqual(calls.map((x) => x.name), ['app_review_delete', 'app_decide_delete']);
    const gone = await c.call('get_task', { task_id: task.id });
    assert.equal(gone.isError, true, 'the task is still there');
    assert.match(textOf(gone), /no one-off task/i);
    assert.match(JSON.stringify(modelContext), /permanently deleted/, 'the model is told the outcome');

    const recs = auditRecords(file).filter((r) => r.tool === 'delete_task' && r.resource_id === task.id);
    const ok = recs.filter((r) => r.outcome === 'ok');
    assert.equal(ok.length, 1, JSON.stringify(recs));
    assert.equal(ok[0].confirmation, 'app');
    assert.ok(recs.some((r) => r.outcome === 'intent' && r.confirmation === 'app'), 'intent record before the delete');
    const approvals = auditRecords(file).filter((r) => r.outcome === 'approval' && r.confirmation === 'app');
    assert.equal(approvals.length, 1, JSON.stringify(approvals));
    assert.equal(approvals[0].approval.items[0].id, task.id);
    assertVerifies(key, file);
    assert.deepEqual(errors, []);
  });

  it('Cancel deletes nothing and is recorded', async (t) => {
    const file = path.join(tempDir().dir, 'audit.jsonl');
    const c = await startClient({ args: ['--sandbox', '--audit-log', file], capabilities: APPS, t });
    const run = await archivedRun(c);
    const first = await c.call('delete_run', { run_id: run.id });
    assertNoHandle(first, 'delete_run');
    const { view, calls } = await showView(t, c, 'delete_run', { run_id: run.id }, first);
    await view.locator('#cancel:enabled').waitFor({ timeout: 20_000 });
    await view.locator('#cancel').click();
    await waitStatus(view, /cancelled/);
    assert.equal(calls.at(-1).arguments.decision, 'cancel');
    const still = await c.call('get_run', { run_id: run.id });
    assert.notEqual(still.isError, true, textOf(still));
    assert.equal(still.structuredContent.run.archived, true);
    const recs = auditRecords(file).filter((r) => r.tool === 'delete_run');
    assert.ok(recs.some((r) => r.outcome === 'cancelled' && r.confirmation === 'app'), JSON.stringify(recs));
    assert.ok(!recs.some((r) => r.outcome === 'ok' || r.outcome === 'intent'), JSON.stringify(recs));
  });

  it('bulk delete: the person types the count, then Delete N items deletes them all', async (t) => {
    const file = path.join(tempDir().dir, 'audit.jsonl');
    const key = approvalKey();
    const c = await startClient({ args: ['--sandbox', '--audit-log', file, '--approval-key-file', key], capabilities: APPS, t });
    const live = await activeRun(c);
    assert.notEqual((await c.call('archive_run', { run_id: live.id })).isError, true);
    const ids = (await listRuns(c, 'only')).map((r) => r.id).slice(0, 3);
    assert.ok(ids.length >= 2, `need two archived runs, have ${ids.length}`);
    const args = { type: 'run', ids };
    const plan = await c.call('bulk_delete', args);
    assert.equal(plan.structuredContent.status, 'planned');
    assertNoHandle(plan, 'bulk_delete');

    const planned = plan.structuredContent.items.filter((i) => i.outcome === 'planned').map((i) => i.id);
    assert.ok(planned.length >= 2, `need two plannable runs: ${textOf(plan)}`);
    const n = planned.length;

    const { page, view, errors } = await showView(t, c, 'bulk_delete', args, plan);
    const del = view.locator('#delete');
    await del.filter({ hasText: `Delete ${n} items` }).waitFor({ timeout: 20_000 })
      .catch(async (err) => { throw new Error(`${err.message}\nview: ${await view.locator('#status').textContent()}\nerrors: ${errors.join('\n')}`); });
    assert.equal(await view.locator('#items tbody tr').count(), ids.length);
    assert.ok(await del.isDisabled(), 'Delete is enabled before the count is typed');
    await view.locator('#count').fill(String(n + 1));
    assert.ok(await del.isDisabled(), 'Delete is enabled with a wrong count');
    await view.locator('#count').fill(String(n));
    await screenshot(page, 'app-review-bulk.png');
    assert.ok(await del.isEnabled(), 'Delete stays disabled with the right count');
    await del.click();
    await waitStatus(view, new RegExp(`Delete: ${n} ok`));
    const left = new Set((await listRuns(c, 'include')).map((r) => r.id));
    for (const id of planned) assert.ok(!left.has(id), `run ${id} is still there`);
    const ok = auditRecords(file).filter((r) => r.tool === 'bulk_delete' && r.outcome === 'ok' && r.resource_id);
    assert.equal(ok.length, n);
    assert.ok(ok.every((r) => r.confirmation === 'app'), JSON.stringify(ok));
    assertVerifies(key, file);
  });

  it('without the extension the app-only tools are absent; nothing the model sees or lacks approves', async (t) => {
    const plain = await startClient({ args: ['--sandbox'], t });
    for (const name of ['app_review_delete', 'app_decide_delete']) {
      assert.ok(!plain.tools.some((x) => x.name === name), `${name} listed without the extension`);
    }
    assert.ok(plain.tools.every((x) => !x._meta?.ui), 'a tool names a view for a client without the extension');
    const rejected = await plain.client.callTool({ name: 'app_decide_delete', arguments: { approval: 'x', ids: ['0'.repeat(32)], decision: 'delete' } })
      .then((r) => r.isError === true, () => true);
    assert.ok(rejected, 'a client without the extension called app_decide_delete');

    const c = await startClient({ args: ['--sandbox'], capabilities: APPS, t });
    assert.ok(!('confirm_token' in c.tools.find((x) => x.name === 'delete_task').inputSchema.properties), 'confirm_token offered to the App client');
    assert.ok('confirm_token' in plain.tools.find((x) => x.name === 'delete_task').inputSchema.properties);
    const appOnly = c.tools.filter(isAppOnly).map((x) => x.name).sort();
    assert.deepEqual(appOnly, ['app_decide_delete', 'app_review_delete']);
    // Budget (issues 20, 21): the host keeps the app-only tools from the model, so they count
    // in neither the model-visible part nor the whole the model is given; the views' _meta does.
    const forModel = c.tools.filter((x) => !isAppOnly(x));
    const visible = forModel.reduce((n, x) => n + Buffer.byteLength(JSON.stringify({ name: x.name, title: x.title, description: x.description, inputSchema: x.inputSchema })), 0);
    const wholeForModel = Buffer.byteLength(JSON.stringify({ tools: forModel }));
    const whole = Buffer.byteLength(JSON.stringify({ tools: c.tools }));
    const plainWhole = Buffer.byteLength(JSON.stringify({ tools: plain.tools }));
    t.diagnostic(`tools/list with the extension: model-visible ${visible} bytes, whole without the app-only tools ${wholeForModel}, whole ${whole} (without the extension ${plainWhole})`);
    assert.ok(visible <= 12 * 1024, `model-visible tools/list is ${visible} bytes`);
    assert.ok(wholeForModel <= 28 * 1024, `tools/list without the app-only tools is ${wholeForModel} bytes`);
    assert.ok(whole - plainWhole <= 1400, `the App adds ${whole - plainWhole} bytes to tools/list`);

    const task = await archivedTask(c);
    const first = await c.call('delete_task', { task_id: task.id });
    assertNoHandle(first, 'delete_task');
    // Every string of the model-visible result, tried as the approval: none works.
    const strings = [];
    const walk = (v) => { if (typeof v === 'string') strings.push(v); else if (v && typeof v === 'object') Object.values(v).forEach(walk); };
    walk(first.structuredContent);
    walk(first.content);
    for (const s of [...new Set(strings)]) {
      const r = await c.call('app_decide_delete', { approval: s, ids: [task.id], decision: 'delete' });
      assert.equal(r.isError, true, `${JSON.stringify(s)} approved a delete`);
      assert.match(textOf(r), /Nothing was deleted/);
    }
    // Called as the model would, without a handle: nothing.
    const bare = await c.call('app_decide_delete', { approval: '', ids: [task.id], decision: 'delete' });
    assert.equal(bare.isError, true);
    // A forged handle: nothing.
    const forged = await c.call('app_decide_delete', { approval: `tcf1.${Buffer.from('{"p":"app"}').toString('base64url')}.AAAA`, ids: [task.id], decision: 'delete' });
    assert.match(textOf(forged), /Nothing was deleted/);
    const still = await c.call('get_task', { task_id: task.id });
    assert.notEqual(still.isError, true, 'the task was deleted without the person');
  });

  it('over HTTP, a confirm_token shown to the model of a session without the extension approves nothing in the app', async (t) => {
    const server = await startHttpServer({ args: ['--sandbox', '--confirm-allow-token'], t });
    const plain = await connectHttp(server, { t });
    const c = await connectHttp(server, { capabilities: APPS, t });
    const task = await archivedTask(c);
    const first = await plain.call('delete_task', { task_id: task.id });
    const token = first.structuredContent?.confirm_token;
    assert.match(token ?? '', /^tcf1\./, `the session without Apps got no confirm_token: ${textOf(first)}`);
    const r = await c.call('app_decide_delete', { approval: token, ids: [task.id], decision: 'delete' });
    assert.equal(r.isError, true);
    assert.match(textOf(r), /Nothing was deleted/);
    // And the app session's own approval does not work from the other session.
    const review = await c.call('app_review_delete', { type: 'task', ids: [task.id] });
    const approval = review.structuredContent.approval;
    const fromPlain = await plain.client.callTool({ name: 'app_decide_delete', arguments: { approval, ids: [task.id], decision: 'delete' } })
      .then((x) => x.isError === true, () => true);
    assert.ok(fromPlain, 'a session without the extension used the approval');
    assert.notEqual((await c.call('get_task', { task_id: task.id })).isError, true, 'the task was deleted');
  });

  it('an approval that expired before the click: the view reads the items again, and the next click deletes', async (t) => {
    const c = await startClient({ args: ['--sandbox'], capabilities: APPS, t });
    const task = await archivedTask(c);
    const first = await c.call('delete_task', { task_id: task.id });
    // The server's answer to an expired approval, for the first click (the binary has no clock to move).
    let expired = 0;
    const intercept = async (params) => {
      if (params.name !== 'app_decide_delete' || expired++ > 0) return null;
      return { isError: true, content: [{ type: 'text', text: 'Nothing was deleted: the approval cannot be used (confirm_token has expired). Close the view; the model can ask again, and the person reviews it anew.' }] };
    };
    const { view, calls } = await showView(t, c, 'delete_task', { task_id: task.id }, first, { intercept });
    await view.locator('#delete:enabled').waitFor({ timeout: 20_000 });
    await view.locator('#delete').click();
    await waitStatus(view, /approval expired before the click/);
    assert.notEqual((await c.call('get_task', { task_id: task.id })).isError, true, 'deleted on an expired approval');
    await view.locator('#delete:enabled').waitFor({ timeout: 20_000 });
    await view.locator('#delete').click();
    await waitStatus(view, /permanently deleted/);
    assert.deepEqual(calls.map((x) => x.name), ['app_review_delete', 'app_decide_delete', 'app_review_delete', 'app_decide_delete']);
    assert.notEqual(calls[1].arguments.approval, calls[3].arguments.approval, 'the second click used a fresh approval');
    assert.equal((await c.call('get_task', { task_id: task.id })).isError, true, 'the task is still there');
  });

  it('at protocol 2026-07-28 (stdio, raw JSON-RPC): the extension declared per request decides, and the App deletes', async (t) => {
    const p = spawnRaw(['--sandbox']);
    t.after(() => p.kill('SIGKILL'));
    let id = 0;
    const meta = (caps) => ({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'raw-apps', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': caps });
    const rpc = async (method, params, caps = APPS) => {
      const n = ++id;
      p.send({ jsonrpc: '2.0', id: n, method, params: { ...params, _meta: meta(caps) } });
      const m = await p.waitFor((x) => x.id === n);
      assert.ok(!m.error, JSON.stringify(m));
      return m.result;
    };
    const names = (r) => r.tools.map((x) => x.name);
    assert.ok(names(await rpc('tools/list', {})).includes('app_decide_delete'));
    assert.ok(!names(await rpc('tools/list', {}, {})).includes('app_decide_delete'), 'listed for a request without the extension');

    const runs = (await rpc('tools/call', { name: 'list_runs', arguments: { archived: 'only' } })).structuredContent.runs;
    const run = runs[0];
    const first = await rpc('tools/call', { name: 'delete_run', arguments: { run_id: run.id } });
    assert.equal(first.structuredContent.confirmation, 'app', JSON.stringify(first));
    assertNoHandle(first, 'delete_run');
    const review = (await rpc('tools/call', { name: 'app_review_delete', arguments: { type: 'run', ids: [run.id] } })).structuredContent;
    // The same approval in a request that does not declare the extension: the tool is not there.
    const n = ++id;
    p.send({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'app_decide_delete', arguments: { approval: review.approval, ids: review.ids, decision: 'delete' }, _meta: meta({}) } });
    const refusedCall = await p.waitFor((x) => x.id === n);
    assert.ok(refusedCall.error || refusedCall.result?.isError, JSON.stringify(refusedCall));
    const done = await rpc('tools/call', { name: 'app_decide_delete', arguments: { approval: review.approval, ids: review.ids, decision: 'delete' } });
    assert.equal(done.structuredContent.status, 'deleted', JSON.stringify(done));
    assert.equal(done.structuredContent.confirmation, 'app');
    const gone = await rpc('tools/call', { name: 'get_run', arguments: { run_id: run.id } });
    assert.equal(gone.isError, true);
  });

  it('shows names as text, never as markup (a name with HTML in it stays text; the strict CSP holds)', async (t) => {
    const c = await startClient({ args: ['--sandbox'], capabilities: APPS, t });
    const task = await archivedTask(c);
    const first = await c.call('delete_task', { task_id: task.id });
    const evil = '<img id="injected" src="x" onerror="document.title=\'pwned\'"><b id="bold">Q3</b>';
    // A name as Tallyfy could hold it: the host hands the view data, whatever it contains.
    const intercept = async (params) => {
      if (params.name !== 'app_review_delete') return null;
      const r = await c.client.callTool(params);
      r.structuredContent.items[0].name = evil;
      return r;
    };
    const { view, page, errors } = await showView(t, c, 'delete_task', { task_id: task.id }, first, { intercept });
    await view.locator('#delete:enabled').waitFor({ timeout: 20_000 });
    assert.equal(await view.locator('#items tbody td').first().textContent(), evil);
    assert.equal(await view.locator('#injected, #bold').count(), 0, 'the name became markup');
    assert.notEqual(await page.title(), 'pwned');
    assert.ok(!errors.some((e) => /Content Security Policy/i.test(e)), `the view broke its own CSP: ${errors.join('\n')}`);
    await view.locator('#cancel').click();
    await waitStatus(view, /cancelled/);
  });
});
