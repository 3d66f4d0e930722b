// The first hour of a new user (issue 20): help and version as subcommands, --help in groups, a
// misspelt tool name answered with a guess, the startup line with the effective policy, servers
// that stop when the process that started them is gone, and `tallyfy-mcp audit` over what two
// servers really wrote.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { REPO_DIR, binary, cleanEnv, runOnce, startClient, archivedRun, activeRun, tempDir, textOf } from './lib.mjs';

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitUntil(pred, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

describe('first hour', { concurrency: true }, () => {
  it('answers help and version as subcommands, and --help groups its flags', () => {
    const v = runOnce(['version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^tallyfy-mcp \S+\n$/);
    assert.equal(runOnce(['--version']).stdout, v.stdout, 'version and --version differ');
    const h = runOnce(['help']);
    assert.equal(h.code, 0, h.stderr);
    const groups = ['Tallyfy:', 'Policy: what agents may do:', 'Confirmation of permanent deletes:', 'HTTP transports:', 'Team and replicas:'];
    let at = -1;
    for (const g of groups) {
      const i = h.stdout.indexOf(`\n${g}\n`);
      assert.ok(i > at, `--help lacks the group "${g}" in order`);
      at = i;
    }
    assert.ok(h.stdout.indexOf('--callers') > h.stdout.indexOf('\nTeam and replicas:\n'), '--callers not under Team and replicas');
    const dash = runOnce(['--help']);
    assert.equal(dash.code, 0);
    assert.equal(dash.stderr, h.stdout, '--help (on stderr) and help (on stdout) differ');
    assert.equal(dash.stdout, '', '--help wrote to stdout, which is JSON-RPC only');
  });

  it('guesses the tool a misspelt name meant, and changes nothing', () => {
    const r = runOnce(['--sandbox', '--exclude-tools', 'archve_task']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown tool "archve_task".*did you mean "archive_task"\?/);
    const far = runOnce(['--sandbox', '--tools', 'purge_everything']);
    assert.equal(far.code, 2);
    assert.doesNotMatch(far.stderr, /did you mean/, 'a guess for a name like no tool');
  });

  it('answers an upper-case ID in plain words, with the ID to pass, and changes nothing', async (t) => {
    const c = await startClient({ args: ['--sandbox'], t });
    const run = await activeRun(c);
    for (const tool of ['get_run', 'archive_run']) {
      const res = await c.call(tool, { run_id: run.id.toUpperCase() });
      assert.ok(res.isError, `${tool} took an upper-case ID`);
      const text = textOf(res);
      assert.match(text, /must be a Tallyfy ID, 32 hex characters in lower case/);
      assert.ok(text.includes(`pass "${run.id}"`), `no lower-case ID to pass: ${text}`);
      assert.doesNotMatch(text, /\^\[a-f0-9\]/, `a regular expression in the error: ${text}`);
    }
    const after = await c.call('get_run', { run_id: run.id });
    assert.equal(after.structuredContent.run.archived, false, 'the refused archive changed the run');
  });

  it('logs one startup line with the effective policy, and warns when no tool is offered', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--disable-permanent-delete', '--protect', 'a'.repeat(32), '--max-deletes-per-hour', '5'], t });
    await waitUntil(() => /policy/.test(c.stderr()), 5_000, 'startup policy line');
    const line = c.stderr().split('\n').find((l) => /\bpolicy\b.*tools=/.test(l));
    assert.ok(line, `no policy line in ${c.stderr()}`);
    for (const kv of ['tools=14', 'tier_cap=lifecycle', 'confirm=auto', 'protected=1', 'audit=']) assert.ok(line.includes(kv), `policy line lacks ${kv}: ${line}`);
    assert.equal(c.tools.length, 14, 'the line and tools/list disagree');
    const none = runOnce(['--sandbox', '--read-only', '--tools', 'delete_run'], { timeout: 5_000 });
    assert.match(none.stderr, /no tool is offered/);
  });

  it('stops a server once the process that started it is gone (MCP_EXIT_WITH_PARENT)', async () => {
    // A parent that starts an HTTP server (no stdin to close) and dies without a word.
    const script = `const { spawn } = require('node:child_process');
      const c = spawn(process.argv[1], ['--sandbox', '--transport', 'http', '--addr', '127.0.0.1:0'], { stdio: 'ignore', detached: true, env: JSON.parse(process.argv[2]) });
      console.log(c.pid); c.unref(); setTimeout(() => process.exit(0), 300);`;
    const spawnOrphan = (env) => {
      const r = spawnSync(process.execPath, ['-e', script, binary(), JSON.stringify(env)], { encoding: 'utf8', timeout: 10_000 });
      const pid = Number(r.stdout.trim());
      assert.ok(pid > 0, `no pid: ${r.stdout} ${r.stderr}`);
      return pid;
    };
    const watched = spawnOrphan(cleanEnv());
    const unwatched = spawnOrphan(cleanEnv({ MCP_EXIT_WITH_PARENT: '0' }));
    try {
      await waitUntil(() => !alive(watched), 10_000, 'the orphaned server with MCP_EXIT_WITH_PARENT=1 exiting');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(alive(unwatched), 'the control server (exit-with-parent off) died too: the test shows nothing');
    } finally {
      for (const pid of [watched, unwatched]) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('summarizes two servers\' audit logs: deletes with their confirmation, refusals, intents without outcome', async (t) => {
    const { dir, cleanup } = tempDir();
    t.after(cleanup);
    const a = path.join(dir, 'replica-a.jsonl');
    const b = path.join(dir, 'replica-b.jsonl');
    const ca = await startClient({ args: ['--sandbox', '--confirm', 'off', '--audit-log', a], t });
    const cb = await startClient({ args: ['--sandbox', '--audit-log', b, '--protect', 'b'.repeat(32)], t });
    const run = await archivedRun(ca);
    const del = await ca.call('delete_run', { run_id: run.id });
    assert.ok(!del.isError, textOf(del));
    const live = await activeRun(cb);
    const arch = await cb.call('archive_run', { run_id: live.id });
    assert.ok(!arch.isError, textOf(arch));
    const refused = await cb.call('archive_run', { run_id: 'b'.repeat(32) });
    assert.ok(refused.isError, 'a protected ID was archived');
    await ca.close();
    await cb.close();
    // What a process killed between its intent and its outcome leaves behind.
    const last = JSON.parse(readFileSync(b, 'utf8').trimEnd().split('\n').at(-1));
    appendFileSync(b, JSON.stringify({ ...last, time: new Date().toISOString(), tool: 'archive_task', resource_type: 'task', resource_id: 'c'.repeat(32), outcome: 'intent', detail: 'archive' }) + '\n');
    appendFileSync(b, '{"time":"2026-12-0'); // and a truncated last line

    const r = spawnSync(binary(), ['audit', '--json', a, b], { encoding: 'utf8', env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /replica-b\.jsonl:\d+: not an audit record/, 'the truncated line was not reported');
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    const deletes = lines.filter((l) => l.kind === 'permanent_delete');
    assert.deepEqual(deletes.map((d) => [d.record.resource_id, d.record.confirmation]), [[run.id, 'off']]);
    assert.ok(lines.some((l) => l.kind === 'refused' && l.record.resource_id === 'b'.repeat(32)), 'the refusal is missing');
    const orphans = lines.filter((l) => l.kind === 'intent_without_outcome');
    assert.deepEqual(orphans.map((o) => o.record.resource_id), ['c'.repeat(32)], 'want exactly the one intent no outcome followed');
    const summary = lines.at(-1);
    assert.equal(summary.kind, 'summary');
    assert.ok(summary.counts.some((c) => c.tool === 'archive_run' && c.outcome === 'ok' && c.count === 1), JSON.stringify(summary.counts));

    const text = spawnSync(binary(), ['audit', '--tool', 'delete_run', a, b], { encoding: 'utf8', env: cleanEnv() });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Permanent deletes, with how each was confirmed \(1\)/);
    assert.match(text.stdout, new RegExp(`delete_run run ${run.id} .*confirmed=off`));

    const notAudit = spawnSync(binary(), ['audit', path.join(REPO_DIR, 'go.mod')], { encoding: 'utf8', env: cleanEnv() });
    assert.equal(notAudit.status, 1);
    assert.match(notAudit.stderr, /not a tallyfy-mcp audit log/);
  });
});
