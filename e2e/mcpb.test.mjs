// MCP Bundle (Claude Desktop one-click install): ../manifest.json validates with the official
// packer (@anthropic-ai/mcpb, pinned), and a bundle of it with the built binary packs, holds
// manifest.json and an executable server/tallyfy-mcp, and unpacks to a binary that runs.
// `make mcpb` does the same with `npx mcpb` from this directory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { binary, packageBin, runAsync, cleanEnv, tempDir, REPO_DIR } from './lib.mjs';

const MANIFEST = path.join(REPO_DIR, 'manifest.json');

/** `mcpb …args` (it runs on Node 20). */
async function mcpb(args, cwd) {
  const r = await runAsync(process.execPath, [packageBin('@anthropic-ai/mcpb'), ...args], { cwd, env: cleanEnv({ NO_COLOR: '1' }), timeout: 60_000 });
  return { ...r, log: `mcpb ${args.join(' ')}: exit ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}` };
}

/** The entries of a zip file from its central directory: [{ name, unixMode }]. */
function zipEntries(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert.ok(eocd >= 0, 'no zip end-of-central-directory record');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = [];
  for (let n = 0; n < count; n++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, `bad central directory entry ${n}`);
    const madeOnUnix = buf.readUInt8(p + 5) === 3;
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const external = buf.readUInt32LE(p + 38);
    out.push({ name: buf.toString('utf8', p + 46, p + 46 + nameLen), unixMode: madeOnUnix ? external >>> 16 : null });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

describe('MCP Bundle (mcpb)', { concurrency: true }, () => {
  it('mcpb validate ../manifest.json passes', async () => {
    const r = await mcpb(['validate', MANIFEST]);
    assert.equal(r.code, 0, r.log);
    assert.match(r.stdout + r.stderr, /validation passes/i, r.log);
  });

  it('packs manifest.json + server/tallyfy-mcp into a zip whose binary is executable and runs', async (t) => {
    const tmp = tempDir('tallyfy-mcpb-');
    t.after(tmp.cleanup);
    const stage = path.join(tmp.dir, 'stage');
    mkdirSync(path.join(stage, 'server'), { recursive: true });
    copyFileSync(MANIFEST, path.join(stage, 'manifest.json'));
    copyFileSync(binary(), path.join(stage, 'server', 'tallyfy-mcp'));
    chmodSync(path.join(stage, 'server', 'tallyfy-mcp'), 0o755);
    const out = path.join(tmp.dir, 'tallyfy-mcp.mcpb');

    const r = await mcpb(['pack', stage, out]);
    assert.equal(r.code, 0, r.log);
    assert.ok(existsSync(out), `no ${out}\n${r.log}`);

    const buf = readFileSync(out);
    assert.equal(buf.readUInt32LE(0), 0x04034b50, 'not a zip file (no PK\\3\\4)');
    const entries = zipEntries(buf);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.deepEqual([...byName.keys()].sort(), ['manifest.json', 'server/tallyfy-mcp'], JSON.stringify(entries));
    const mode = byName.get('server/tallyfy-mcp').unixMode;
    assert.ok(mode !== null && (mode & 0o111) !== 0, `server/tallyfy-mcp is not executable in the bundle (mode ${mode?.toString(8)})`);

    // The bundle unpacks to a manifest that still validates and a binary that runs.
    const unpacked = path.join(tmp.dir, 'unpacked');
    const u = await mcpb(['unpack', out, unpacked]);
    assert.equal(u.code, 0, u.log);
    assert.deepEqual(JSON.parse(readFileSync(path.join(unpacked, 'manifest.json'), 'utf8')), JSON.parse(readFileSync(MANIFEST, 'utf8')));
    const v = spawnSync(path.join(unpacked, 'server', 'tallyfy-mcp'), ['--version'], { encoding: 'utf8', env: cleanEnv(), timeout: 10_000 });
    assert.equal(v.status, 0, `unpacked binary --version: ${v.error?.message ?? ''}${v.stdout}${v.stderr}`);
    assert.match(v.stdout + v.stderr, /tallyfy-mcp/);
  });
});
