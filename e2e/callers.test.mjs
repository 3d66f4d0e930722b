// --callers: each HTTP caller of the built binary is authenticated against the callers file and
// acts with their own Tallyfy token and policy cap; the audit log names them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { startHttpServer, startSandbox, connectHttp, archivedTask, randomToken, tempDir, textOf, READ_TOOLS, ALL_TOOLS, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

const SANDBOX_MEMBER_TOKEN = 'sandbox-member-token';
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

describe('callers with their own Tallyfy identity', () => {
  it('a read-only caller sees only read tools, a member is refused what Tallyfy reserves to admins, an admin deletes; audit names each', async (t) => {
    const sb = await startSandbox({ t });
    const { dir, cleanup } = tempDir('tallyfy-callers-');
    t.after(cleanup);
    const tokens = { reader: randomToken(), member: randomToken(), admin: randomToken() };
    const callersFile = path.join(dir, 'callers.json');
    const audit = path.join(dir, 'audit.jsonl');
    writeFileSync(callersFile, JSON.stringify({
      callers: [
        { name: 'reader', token_sha256: sha256(tokens.reader), tallyfy_token_env: 'MEMBER_TALLYFY', max_tier: 'read' },
        { name: 'member', token_sha256: sha256(tokens.member), tallyfy_token_env: 'MEMBER_TALLYFY' },
        { name: 'admin', token_sha256: sha256(tokens.admin), tallyfy_token_env: 'ADMIN_TALLYFY' },
      ],
    }, null, 2));
    const server = await startHttpServer({
      args: [...sb.serverArgs, '--callers', callersFile, '--confirm', 'off', '--audit-log', audit],
      env: { MEMBER_TALLYFY: SANDBOX_MEMBER_TOKEN, ADMIN_TALLYFY: SANDBOX_ADMIN_TOKEN },
      t,
    });
    const reader = await connectHttp(server, { token: tokens.reader, t });
    const member = await connectHttp(server, { token: tokens.member, t });
    const admin = await connectHttp(server, { token: tokens.admin, t });

    assert.deepEqual(reader.tools.map((x) => x.name).sort(), [...READ_TOOLS].sort());
    assert.deepEqual(admin.tools.map((x) => x.name).sort(), ALL_TOOLS);
    await assert.rejects(reader.client.callTool({ name: 'delete_task', arguments: { task_id: '0'.repeat(32) } }), /not found/i);

    // The member (a Standard member in Tallyfy) is refused, before anything is asked, the
    // deletes Tallyfy reserves to administrators, and does not see them listed.
    assert.ok(!member.tools.some((x) => x.name === 'delete_run'), 'delete_run listed to a Standard member');
    const archivedRun = (await admin.call('list_runs', { archived: 'only' })).structuredContent.runs[0];
    let res = await member.call('delete_run', { run_id: archivedRun.id });
    assert.ok(res.isError && /Refused before anything was asked or changed/.test(textOf(res)) && /Standard member/.test(textOf(res)), `member's delete: ${textOf(res)}`);
    const task = await archivedTask(admin);
    res = await admin.call('delete_task', { task_id: task.id });
    assert.ok(!res.isError && res.structuredContent.status === 'deleted', `admin's delete: ${textOf(res)}`);

    const records = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const seen = records.map((r) => `${r.caller}:${r.tool}:${r.outcome}`);
    for (const want of ['reader:delete_task:refused', 'member:delete_run:refused', 'admin:delete_task:ok']) {
      assert.ok(seen.includes(want), `audit lacks ${want}: ${seen.join(', ')}`);
    }
    const unknown = await fetch(server.mcpUrl, { method: 'POST', headers: { Authorization: `Bearer ${randomToken()}`, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(unknown.status, 401);
    // The 401 speaks of how this server authenticates: a person's own token from the callers
    // file, not "the server's MCP auth token" that no caller here was given.
    const text = await unknown.text();
    assert.match(text, /not accepted here.*your own MCP bearer token.*callers file/, text);
    assert.doesNotMatch(text, /server's MCP auth token/, text);
  });
});
