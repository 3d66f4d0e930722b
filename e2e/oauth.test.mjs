// OAuth 2.1 resource server: the built binary with --oauth-issuer/--oauth-audience against an
// in-process issuer (discovery + JWKS on loopback, RS256 test tokens signed here).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync, sign } from 'node:crypto';

import { startHttpServer, connectHttp, READ_TOOLS } from './lib.mjs';

const AUDIENCE = 'https://mcp.example.test/mcp';
const b64url = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

async function startIssuer(t) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'e2e-1', alg: 'RS256', use: 'sig' };
  const srv = createServer((req, res) => {
    const url = `http://127.0.0.1:${srv.address().port}`;
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks`, authorization_endpoint: `${url}/authorize`, token_endpoint: `${url}/token` }));
    } else if (req.url === '/jwks') {
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => srv.close(resolve)));
  const url = `http://127.0.0.1:${srv.address().port}`;
  const token = ({ aud = AUDIENCE, scope = 'tallyfy.read tallyfy.lifecycle', exp = Math.floor(Date.now() / 1000) + 600 } = {}) => {
    const data = `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: 'e2e-1' })}.${b64url({ iss: url, aud, sub: 'e2e-user', exp, scope })}`;
    return `${data}.${sign('sha256', Buffer.from(data), privateKey).toString('base64url')}`;
  };
  return { url, token };
}

describe('OAuth resource server', () => {
  it('accepts only tokens issued for it, with the scopes each tier needs', async (t) => {
    const issuer = await startIssuer(t);
    const server = await startHttpServer({ args: ['--sandbox', '--oauth-issuer', issuer.url, '--oauth-audience', AUDIENCE], t });
    const metadataURL = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } } });
    const post = (tok) => fetch(server.mcpUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...(tok ? { Authorization: `Bearer ${tok}` } : {}) },
      body: init,
    });

    let res = await post();
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate').includes(`resource_metadata="${metadataURL}"`), true, res.headers.get('www-authenticate'));
    for (const bad of [issuer.token({ aud: 'https://other.example.test/mcp' }), issuer.token({ exp: Math.floor(Date.now() / 1000) - 60 })]) {
      res = await post(bad);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
    }

    const meta = await (await fetch(`${server.base}/.well-known/oauth-protected-resource/mcp`)).json();
    assert.equal(meta.resource, AUDIENCE);
    assert.deepEqual(meta.authorization_servers, [issuer.url]);

    // Read and lifecycle scopes: no delete tools, and a delete called by name gets 403.
    const c = await connectHttp(server, { token: issuer.token(), t });
    const names = c.tools.map((x) => x.name);
    assert.ok(READ_TOOLS.every((n) => names.includes(n)), `tools: ${names}`);
    assert.ok(!names.some((n) => n.startsWith('delete_')), `delete tools offered without tallyfy.delete: ${names}`);
    await assert.rejects(c.client.callTool({ name: 'delete_task', arguments: { task_id: '0'.repeat(32) } }), /403|insufficient_scope|Forbidden/);

    const full = await connectHttp(server, { token: issuer.token({ scope: 'tallyfy.read tallyfy.lifecycle tallyfy.delete' }), t });
    assert.ok(full.tools.some((x) => x.name === 'delete_task'), 'tallyfy.delete does not offer the delete tools');
  });
});
