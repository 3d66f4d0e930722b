// 7. The audit record is on disk when the result is returned: SIGKILL right after cannot lose it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { startClient, startHttpServer, connectHttp, archivedRun, archivedTemplate, activeRun, tempDir, textOf, within, leakOf, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

function readAudit(file) {
  const raw = readFileSync(file, 'utf8');
  const records = raw.trimEnd().split('\n').filter(Boolean).map((l, i) => {
    try { return JSON.parse(l); } catch { return assert.fail(`audit line ${i + 1} is not JSON: ${l}`); }
  });
  return { raw, records };
}

describe('audit log', { concurrency: true }, () => {
  it('holds the record of a permanent delete after the server is SIGKILLed as soon as the result returns', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = path.join(dir, 'audit.jsonl');
    const c = await startClient({ args: ['--sandbox', '--confirm', 'off', '--audit-log', file], t });
    assert.match(c.stderr(), /confirm off/i, 'no startup warning about --confirm off');
    const run = await archivedRun(c);

    const closed = new Promise((resolve) => { c.transport.onclose = ((prev) => () => { prev?.(); resolve(); })(c.transport.onclose); });
    const pid = c.transport.pid;
    const res = await c.call('delete_run', { run_id: run.id });
    process.kill(pid, 'SIGKILL'); // no chance to flush or close anything
    assert.ok(!res.isError, textOf(res));
    assert.equal(res.structuredContent.status, 'deleted', 'one call in --confirm off mode did not delete');
    assert.equal(res.structuredContent.confirmation, 'off');
    await within(closed, 5_000, 'process gone after SIGKILL');

    const { raw, records } = readAudit(file);
    assert.equal(leakOf(SANDBOX_ADMIN_TOKEN, raw), null, 'the Tallyfy token is in the audit log');
    assert.ok(!/bearer/i.test(raw), 'an Authorization value is in the audit log');
    assert.ok(raw.endsWith('\n'), 'the last record is incomplete');
    const mine = records.filter((r) => r.tool === 'delete_run' && r.resource_id === run.id);
    // Audit before act: an intent record, synced before the delete was sent, then the outcome.
    assert.deepEqual(mine.map((r) => r.outcome), ['intent', 'ok'], `want intent + outcome records of the delete, got ${JSON.stringify(records)}`);
    assert.equal(mine[0].time, mine[1].time, 'the intent and the outcome are not of the same call');
    assert.equal(mine[0].detail, 'delete');
    const rec = mine[1];
    assert.equal(rec.outcome, 'ok');
    assert.equal(rec.confirm_mode, 'off');
    assert.equal(rec.resource_type, 'run');
    assert.equal(rec.resource_name, run.name);
    assert.ok(!Number.isNaN(Date.parse(rec.time)), `time ${rec.time}`);
    assert.ok(!('confirm_token' in rec) && !('arguments' in rec), 'arguments beyond the ID were recorded');

    if (process.platform !== 'win32') {
      assert.equal(statSync(file).mode & 0o777, 0o600, 'the audit file is not created 0600');
    }
  });
  it('records each step of a token delete and each refusal, never the confirm token', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = path.join(dir, 'audit.jsonl');
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token', '--audit-log', file], t });
    const tpl = await archivedTemplate(c);
    const live = await activeRun(c);

    const first = await c.call('delete_template', { template_id: tpl.id });
    const token = first.structuredContent.confirm_token;
    const second = await c.call('delete_template', { template_id: tpl.id, confirm_token: token });
    assert.equal(second.structuredContent?.status, 'deleted', textOf(second));
    const refused = await c.call('delete_run', { run_id: live.id });
    assert.strictEqual(refused.isError, true);
    const archived = await c.call('archive_run', { run_id: live.id });
    assert.ok(!archived.isError, textOf(archived));
    await c.call('list_runs', {}); // a read: not an audited action

    const { raw, records } = readAudit(file);
    assert.ok(!raw.includes(token), 'the confirm token is in the audit log');
    assert.equal(leakOf(SANDBOX_ADMIN_TOKEN, raw), null, 'the Tallyfy token is in the audit log');
    const del = records.filter((r) => r.tool === 'delete_template' && r.resource_id === tpl.id);
    // The signed approval record of the token confirmation comes before the intent.
    assert.deepEqual(del.map((r) => r.outcome), ['confirmation_required', 'approval', 'intent', 'ok']);
    const approval = del[1].approval;
    assert.equal(approval.channel, 'token');
    assert.equal(approval.outcome, 'approved');
    assert.deepEqual(approval.items.map((i) => i.id), [tpl.id]);
    assert.ok(approval.signature && approval.key_id, 'the approval record is not signed');
    assert.equal(del[3].approval_id, approval.request_id, 'the delete does not name its approval');
    for (const r of del.filter((x) => x.outcome !== 'approval')) {
      assert.equal(r.confirmation, 'token');
      assert.equal(r.confirm_mode, 'token');
      assert.equal(r.resource_name, tpl.title);
    }
    const ref = records.filter((r) => r.tool === 'delete_run' && r.resource_id === live.id);
    assert.deepEqual(ref.map((r) => r.outcome), ['refused']);
    const arch = records.filter((r) => r.tool === 'archive_run' && r.resource_id === live.id);
    assert.deepEqual(arch.map((r) => r.outcome), ['intent', 'ok']);
    assert.ok(!records.some((r) => r.tool === 'list_runs'), 'a read was audited as an action');
    for (const r of records) assert.equal(r.client_name, 'tallyfy-mcp-e2e', 'client name not recorded');
  });

  it('records a lifecycle or delete call refused for invalid arguments (e.g. an ID with "/delete" appended)',
    async (t) => {
      const { dir, cleanup } = tempDir();
      t.after(cleanup);
      const file = path.join(dir, 'audit.jsonl');
      const c = await startClient({ args: ['--sandbox', '--audit-log', file], t });
      const run = await activeRun(c);
      const smuggle = await c.call('archive_run', { run_id: `${run.id}/delete` });
      assert.strictEqual(smuggle.isError, true);
      const bad = await c.call('delete_run', { run_id: 'not-an-id' });
      assert.strictEqual(bad.isError, true);
      assert.strictEqual((await c.call('get_run', { run_id: run.id })).structuredContent.run.archived, false);

      const { records } = existsSync(file) ? readAudit(file) : { records: [] };
      assert.ok(records.some((r) => r.tool === 'archive_run' && r.outcome === 'refused'), `no record of the refused archive_run: ${JSON.stringify(records)}`);
      assert.ok(records.some((r) => r.tool === 'delete_run' && r.outcome === 'refused'), `no record of the refused delete_run: ${JSON.stringify(records)}`);
    });

  it('does nothing when the intent record cannot be written (--audit-log /dev/full), and says why', { skip: !existsSync('/dev/full') && 'no /dev/full' }, async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'off', '--audit-log', '/dev/full'], t });
    const old = await archivedRun(c);
    const live = await activeRun(c);
    const d = await c.call('delete_run', { run_id: old.id });
    assert.strictEqual(d.isError, true, `delete_run went through with no audit record: ${textOf(d)}`);
    assert.match(textOf(d), /Nothing was changed/);
    assert.match(textOf(d), /audit record/);
    assert.match(textOf(d), /--audit-log/);
    const a = await c.call('archive_run', { run_id: live.id });
    assert.strictEqual(a.isError, true, `archive_run went through with no audit record: ${textOf(a)}`);
    // Reads are not audited: they show nothing changed.
    const runs = await c.call('list_runs', { archived: 'include', per_page: 100 });
    const byId = new Map(runs.structuredContent.runs.map((r) => [r.id, r]));
    assert.ok(byId.has(old.id), 'the run was deleted though its intent record failed');
    assert.strictEqual(byId.get(live.id).archived, false, 'the run was archived though its intent record failed');
  });

  it('records every call refused by the per-session rate limit (outcome refused, the reason, the item)', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const file = path.join(dir, 'audit.jsonl');
    const server = await startHttpServer({ args: ['--sandbox', '--rate-limit', '1', '--audit-log', file], t });
    const c = await connectHttp(server, { t });
    const run = await activeRun(c); // a read: it spends from the same bucket, and is not audited
    const results = await Promise.all(Array.from({ length: 12 }, () => c.call('archive_run', { run_id: run.id })));
    const limited = results.filter((r) => r.isError && /Too many tool calls/.test(textOf(r)));
    assert.ok(limited.length >= 6, `only ${limited.length} of 12 rapid calls were rate limited`);
    const { records } = readAudit(file);
    const refused = records.filter((r) => r.detail === 'rate limited: too many tool calls on this session');
    assert.equal(refused.length, limited.length, `${limited.length} calls rate limited, ${refused.length} audit records say so`);
    for (const r of refused) {
      assert.equal(r.outcome, 'refused');
      assert.equal(r.tool, 'archive_run');
      assert.equal(r.resource_id, run.id);
      assert.equal(r.transport, 'streamable-http');
    }
    assert.ok(!records.some((r) => r.tool === 'list_runs'), 'a rate-limited or served read was audited');
  });
});
