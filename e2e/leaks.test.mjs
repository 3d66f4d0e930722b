// No part of the Tallyfy token in anything the server writes: results, sealed tokens (decoded),
// stderr at debug level, across a retry, a token delete and an elicitation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, startSandbox, archivedRun, archivedTemplate, textOf, leakOf, secretForms, SANDBOX_ADMIN_TOKEN } from './lib.mjs';

describe('token leaks', { concurrency: true }, () => {
  it('the leak detector finds a part of the token, and a token sealed inside a confirm_token', () => {
    const tok = SANDBOX_ADMIN_TOKEN;
    for (const part of [tok.slice(0, Math.floor(tok.length * 3 / 4)), tok.slice(Math.floor(tok.length / 4)), tok.slice(5, 13)]) {
      assert.notEqual(leakOf(tok, `retrying … (token ${part}…)`), null, `missed ${part}`);
    }
    const payload = Buffer.from(JSON.stringify({ o: 'org', a: tok })).toString('base64url');
    assert.notEqual(leakOf(tok, `confirm_token: tcf1.${payload}.bWFjbWFj`), null, 'missed a sealed token');
    assert.equal(leakOf(tok, 'sandbox: using the built-in demo Tallyfy; admin only'), null, 'a false alarm');
    assert.ok(secretForms(tok).every((f) => f.length >= 8));
  });

  it('nothing of the token shows across a retried read, a token delete and an elicitation', async (t) => {
    const sb = await startSandbox({ faults: '429=0#2:GET', t });
    const common = ['--log-level', 'debug', ...sb.serverArgs];
    const c = await startClient({ args: [...common, '--confirm', 'token'], env: sb.serverEnv, t });
    const run = await archivedRun(c); // the first GETs meet 429 and are retried
    const first = await c.call('delete_run', { run_id: run.id });
    const token = first.structuredContent.confirm_token;
    assert.ok(token?.startsWith('tcf1.'), textOf(first));
    const second = await c.call('delete_run', { run_id: run.id, confirm_token: token });
    assert.equal(second.structuredContent?.status, 'deleted', textOf(second));
    assert.match(c.stderr(), /retrying Tallyfy request/, 'no retry was logged: the retry path was not reached');

    const e = await startClient({
      args: [...common, '--confirm', 'elicit'], env: sb.serverEnv, t,
      capabilities: { elicitation: {} },
      onElicit: async (req) => ({ action: 'accept', content: { name: req.params.message.split('type its name: ')[1] } }),
    });
    const tpl = await archivedTemplate(e);
    const del = await e.call('delete_template', { template_id: tpl.id });
    assert.equal(del.structuredContent?.status, 'deleted', textOf(del));
    for (const [what, out] of [['stderr', c.stderr()], ['stderr', e.stderr()]]) {
      assert.equal(leakOf(SANDBOX_ADMIN_TOKEN, out), null, `${what}: ${leakOf(SANDBOX_ADMIN_TOKEN, out)}`);
    }
  });
});
