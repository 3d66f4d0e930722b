// `tallyfy-mcp check`: the built binary checks a token and organization against
// `tallyfy-mcp sandbox`, read-only, with one ✓/✗ line per check or --json.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { binary, cleanEnv, runAsync, startSandbox, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

const MEMBER_TOKEN = 'sandbox-member-token';

async function check(sb, token, ...args) {
  const r = await runAsync(binary(), ['check', ...args], {
    env: cleanEnv({ TALLYFY_ACCESS_TOKEN: token, TALLYFY_BASE_URL: sb.url, TALLYFY_ORG_ID: sb.org }),
    timeout: 20_000,
  });
  for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(token), 'check printed the token');
  return r;
}

const byName = (report) => Object.fromEntries(report.checks.map((c) => [c.name, c]));

test('check --json: every check passes with the admin token, and deletes will be allowed', async (t) => {
  const sb = await startSandbox({ t });
  const r = await check(sb, SANDBOX_ADMIN_TOKEN, '--json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.ok, true);
  assert.deepEqual(rep.checks.map((c) => c.name), ['token', 'organization', 'role', 'tasks', 'runs', 'templates', 'rate_limits']);
  for (const c of rep.checks) assert.equal(c.status, 'ok', `${c.name}: ${c.message}`);
  assert.equal(rep.organization.role, 'admin');
  assert.equal(rep.permanent_delete_allowed, true);
  // No Tallyfy source documents X-RateLimit-Limit, so the sandbox sends only X-RateLimit-Remaining.
  assert.equal(rep.rate_limit.limit, undefined);
  assert.match(rep.rate_limit.remaining, /^\d+$/);
});

test('check: the member token passes and is told what Tallyfy will refuse its role', async (t) => {
  const sb = await startSandbox({ t });
  const r = await check(sb, MEMBER_TOKEN);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('✓ ')).length, 7, r.stdout);
  assert.match(r.stdout, /✓ role: standard: Tallyfy will refuse delete_run, delete_template \(permanent deletes of processes and templates are for Tallyfy administrators\)/);
  assert.match(r.stdout, /allowed only on some items: archive_template, restore_template/);
  assert.match(lines.at(-1), /All checks passed/);
});

test('check: a bad token is a ✗ that says what to do, exit 1', async (t) => {
  const sb = await startSandbox({ t });
  const r = await check(sb, 'an-expired-token', '--json');
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const c = byName(JSON.parse(r.stdout));
  assert.equal(c.token.status, 'fail');
  assert.match(c.token.message, /401/);
  assert.match(c.token.fix, /Settings > Integrations > REST API/);
  assert.equal(c.runs.status, 'skipped');
});

test('check names a used field that arrives in an undocumented shape: a ⚠ to report, not a failure', async (t) => {
  const sb = await startSandbox({ t, brokenShape: 'run.progress' });
  const r = await check(sb, SANDBOX_ADMIN_TOKEN, '--json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const c = byName(JSON.parse(r.stdout));
  assert.equal(c.runs.status, 'warn', c.runs.message);
  assert.deepEqual(c.runs.shape_issues, [{ field: 'runs[].progress', found: 'array' }]);
  assert.match(c.runs.message, /runs\[\]\.progress arrived as array/);
  assert.ok(c.runs.fix);
  assert.equal(c.tasks.status, 'ok');

  const text = await check(sb, SANDBOX_ADMIN_TOKEN);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^⚠ processes: .*runs\[\]\.progress arrived as array.*Next: report it/m);
  assert.doesNotMatch(text.stdout, /fix the ✗ lines/);
});

test('check names an identity field that arrives in an undocumented shape (the role)', async (t) => {
  const sb = await startSandbox({ t, brokenShape: 'organization.user_role=object' });
  const r = await check(sb, SANDBOX_ADMIN_TOKEN, '--json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout);
  const c = byName(rep);
  assert.equal(c.organization.status, 'warn', c.organization.message);
  assert.deepEqual(c.organization.shape_issues, [{ field: 'organizations[].user_role', found: 'object' }]);
  assert.match(c.organization.message, /organizations\[\]\.user_role arrived as object/);
  assert.ok(c.organization.fix);
  assert.match(c.role.message, /Tallyfy sent the role in a shape no Tallyfy source documents \(organizations\[\]\.user_role arrived as object\)/);
  assert.equal(rep.permanent_delete_allowed, undefined);
  assert.equal(c.token.status, 'ok');
  assert.equal(c.runs.status, 'ok');

  const text = await check(sb, SANDBOX_ADMIN_TOKEN);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^⚠ organization: member of .*organizations\[\]\.user_role arrived as object.*Next: /m);
});

test('check --live is refused without --yes off a terminal, and with --yes prints its table and leaves nothing', async (t) => {
  const sb = await startSandbox({ t });
  const refused = await check(sb, SANDBOX_ADMIN_TOKEN, '--live');
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /--yes/);

  const r = await check(sb, SANDBOX_ADMIN_TOKEN, '--live', '--yes', '--json');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const live = JSON.parse(r.stdout).live;
  assert.match(live.met, /^the tallyfy-mcp sandbox, variants: /);
  assert.equal(live.observed.length, 11);
  assert.match(live.cleanup, /permanently deleted/);
  const tasks = await fetch(`${sb.url}/organizations/${sb.org}/tasks?archived=true&per_page=100`, {
    headers: { Authorization: `Bearer ${SANDBOX_ADMIN_TOKEN}`, 'X-Tallyfy-Client': 'APIClient', Accept: 'application/json' },
  }).then((x) => x.json());
  assert.ok(!tasks.data.some((x) => x.title === 'tallyfy-mcp check — safe to delete'), 'check --live left its task');
});
