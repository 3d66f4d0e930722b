// 8. Startup refusals and --version: clear stderr, nothing on stdout (stdout belongs to JSON-RPC).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { runOnce, ALL_TOOLS } from './lib.mjs';

// Should a regression make the server reach out at startup, it reaches a closed loopback port.
const LOOPBACK = { TALLYFY_BASE_URL: 'http://127.0.0.1:9/api' };

describe('startup', { concurrency: true }, () => {
  it('refuses to start without a token or --sandbox, naming TALLYFY_ACCESS_TOKEN and --sandbox', () => {
    const r = runOnce([], { env: LOOPBACK });
    assert.notEqual(r.code, 0, 'started without any token');
    assert.equal(r.stdout, '', 'wrote to stdout');
    assert.match(r.stderr, /TALLYFY_ACCESS_TOKEN/);
    assert.match(r.stderr, /--sandbox/);
  });

  it('refuses a token without an organization, naming TALLYFY_ORG_ID', () => {
    const r = runOnce([], { env: { ...LOOPBACK, TALLYFY_ACCESS_TOKEN: 'not-a-real-token' } });
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /TALLYFY_ORG_ID/);
    assert.ok(!r.stderr.includes('not-a-real-token'), 'the token was echoed');
  });

  for (const args of [['--tools', 'nope'], ['--sandbox', '--tools', 'get_run,nope'], ['--sandbox', '--exclude-tools', 'nope']]) {
    it(`refuses ${args.join(' ')}, listing the valid tool names`, () => {
      const r = runOnce(args, { env: LOOPBACK });
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /nope/);
      for (const name of ALL_TOOLS) assert.ok(r.stderr.includes(name), `stderr does not list ${name}`);
    });
  }

  it('refuses an unknown --confirm mode', () => {
    const r = runOnce(['--sandbox', '--confirm', 'maybe']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /confirm/);
  });

  it('prints its version on stdout with --version', () => {
    const r = runOnce(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tallyfy-mcp \S+\n$/);
  });
});
