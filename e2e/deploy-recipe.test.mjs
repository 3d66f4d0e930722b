// docs/deploy.md "Try it on one machine" runs as written: Redis, the standalone sandbox, a
// callers file and two loopback replicas, then a tool call on the second replica as the caller.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';

import { REPO_DIR, binary, tempDir } from './lib.mjs';

function recipe() {
  const doc = readFileSync(path.join(REPO_DIR, 'docs', 'deploy.md'), 'utf8');
  const m = doc.match(/<!-- try-it:start -->\s*```sh\n([\s\S]*?)```\s*<!-- try-it:end -->/);
  assert.ok(m, 'docs/deploy.md has no try-it block between its markers');
  return m[1];
}

const needs = ['redis-server', 'openssl', 'curl', 'sha256sum'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);

describe('docs/deploy.md: try it on one machine', () => {
  it('runs as written and answers on both replicas', { skip: needs.length && !process.env.CI ? `needs ${needs.join(', ')}` : false }, async (t) => {
    const { dir, cleanup } = tempDir('tallyfy-tryit-');
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(binary(), path.join(bin, 'tallyfy-mcp'));
    const work = path.join(dir, 'work');
    mkdirSync(work);
    // Its own process group, so every server the recipe leaves running dies with the test.
    const child = spawn('bash', ['-e', '-c', recipe()], {
      cwd: work, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: dir, LANG: process.env.LANG ?? 'C' },
    });
    t.after(() => {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      cleanup();
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    // 'exit', not 'close': the servers it leaves running hold its stdout open.
    const code = await new Promise((resolve) => child.on('exit', resolve));
    await new Promise((r) => setTimeout(r, 100)); // the last lines still in the pipe
    assert.equal(code, 0, `the recipe failed:\n${out}\n${err}`);
    const [health1, health2, answer] = out.trim().split("\n").filter(Boolean);
    assert.ok(answer, `want two health answers and a tool result, got:\n${out}\n${err}`);
    for (const h of [health1, health2]) {
      const j = JSON.parse(h);
      assert.equal(j.status, 'ok', h);
      assert.deepEqual(j.state, { backend: 'redis', status: 'ok' }, h);
    }
    const res = JSON.parse(answer).result;
    assert.ok(!res.isError, answer);
    assert.equal(res.structuredContent.runs.length, 2, answer);
    const audit = readFileSync(path.join(work, 'replica-18092.log'), 'utf8');
    assert.match(audit, /callers loaded/);
    assert.ok(!out.includes(readFileSync(path.join(work, 'alice.mcp-token'), 'utf8')), 'the bearer token was printed');
  });
});
