// 1. tools/list: the 18 tools (15 single-item, 3 bulk) with docs/design.md's annotations, a title and an outputSchema each, and
// the SDK client really validating structuredContent against those schemas.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { startClient, DESIGN_HINTS, ALL_TOOLS, textOf } from './lib.mjs';

describe('tools/list', { concurrency: true }, () => {
  it('lists the 18 tools with the annotations of docs/design.md, a title and an outputSchema', async (t) => {
    const c = await startClient({ args: ['--sandbox', '--confirm', 'token'], t });
    const names = c.tools.map((x) => x.name).sort();
    assert.deepEqual(names, ALL_TOOLS);

    for (const tool of c.tools) {
      const [readOnly, destructive, idempotent, openWorld] = DESIGN_HINTS[tool.name];
      const a = tool.annotations;
      assert.ok(a, `${tool.name}: no annotations`);
      // Every hint explicit (not left to the spec's defaults) and exactly as in the design table.
      assert.strictEqual(a.readOnlyHint, readOnly, `${tool.name}.readOnlyHint`);
      assert.strictEqual(a.destructiveHint, destructive, `${tool.name}.destructiveHint`);
      assert.strictEqual(a.idempotentHint, idempotent, `${tool.name}.idempotentHint`);
      assert.strictEqual(a.openWorldHint, openWorld, `${tool.name}.openWorldHint`);

      assert.ok(typeof tool.title === 'string' && tool.title.trim() !== '', `${tool.name}: no title`);
      assert.match(tool.name, /^[a-z][a-z0-9_]{0,63}$/);
      assert.ok(tool.description && tool.description.length <= 300, `${tool.name}: description missing or long`);

      for (const [which, schema] of [['inputSchema', tool.inputSchema], ['outputSchema', tool.outputSchema]]) {
        assert.ok(schema, `${tool.name}: no ${which}`);
        assert.equal(schema.type, 'object', `${tool.name}.${which}.type`);
        for (const k of ['$ref', '$defs', '$schema', 'anyOf', 'oneOf', 'allOf']) {
          assert.ok(!(k in schema), `${tool.name}.${which} has top-level ${k}`);
        }
        assert.ok(!JSON.stringify(schema).includes('"$ref"'), `${tool.name}.${which} uses $ref`);
      }
      // Arguments are closed; result schemas are kept compact on purpose (schemas.For).
      assert.equal(tool.inputSchema.additionalProperties, false, `${tool.name}.inputSchema.additionalProperties`);
      // The SDK compiled a validator for it: every callTool of this suite is checked against it.
      assert.equal(typeof c.client.getToolOutputValidator(tool.name), 'function', `${tool.name}: SDK has no output validator`);
    }
  });

  it('has the SDK reject structuredContent that breaks the outputSchema (validation is not vacuous)', async (t) => {
    const c = await startClient({ args: ['--sandbox'], t });
    const validate = c.client.getToolOutputValidator('archive_run');
    assert.equal(validate({ action: 'archive' }).valid, false, 'a result missing required fields passed');
    assert.equal(validate({ action: 'archive', resource: { type: 'run', id: 'x', name: 'n', state: 'gone' }, changed: true, reversible: true, undo: { tool: 'activate_run', arguments: {} }, message: 'm' }).valid,
      false, 'an out-of-enum state passed');

    // And a real result of every read tool passes through callTool's validation.
    for (const [tool, args] of [['list_tasks', {}], ['list_runs', { archived: 'include' }], ['list_templates', { archived: 'only' }]]) {
      const res = await c.call(tool, args);
      assert.ok(!res.isError, `${tool}: ${textOf(res)}`);
    }
    const runs = (await c.call('list_runs', { archived: 'include' })).structuredContent.runs;
    const got = await c.call('get_run', { run_id: runs[0].id });
    assert.equal(got.structuredContent.run.id, runs[0].id);
  });
  it('describes every argument completely (no description cut at a comma) and keeps tools/list small', async (t) => {
    const c = await startClient({ args: ['--sandbox'], t });
    const problems = [];
    const walk = (schema, where, needDescriptions) => {
      if (!schema || typeof schema !== 'object') return;
      if (schema.type === 'array') {
        if (!schema.items) problems.push(`${where}: array without items`);
        walk(schema.items, `${where}[]`, needDescriptions);
      }
      for (const [k, v] of Object.entries(schema.properties ?? {})) {
        if (needDescriptions && (typeof v.description !== 'string' || v.description.trim() === '')) problems.push(`${where}.${k}: no description`);
        walk(v, `${where}.${k}`, needDescriptions);
      }
    };
    for (const tool of c.tools) {
      walk(tool.inputSchema, `${tool.name} input`, true);
      walk(tool.outputSchema, `${tool.name} output`, false);
    }
    assert.deepEqual(problems, []);

    // A description that enumerates choices names them all (an unescaped comma in a
    // jsonschema tag silently cuts the description at its first item).
    const mentionsAll = (desc, words, where) => {
      for (const w of words) assert.ok(desc?.includes(w), `${where} description ${JSON.stringify(desc)} lacks "${w}"`);
    };
    for (const name of ['list_tasks', 'list_runs', 'list_templates']) {
      const props = c.tools.find((x) => x.name === name).inputSchema.properties;
      mentionsAll(props.archived.description, ['exclude', 'include', 'only'], `${name}.archived`);
    }
    // Wherever result descriptions are kept, the same holds.
    const res = c.tools.find((x) => x.name === 'archive_run').outputSchema.properties.resource.properties;
    if (res.type.description) mentionsAll(res.type.description, ['task', 'run', 'template'], 'archive_run.resource.type');
    if (res.state.description) mentionsAll(res.state.description, ['live', 'archived', 'deleted'], 'archive_run.resource.state');

    // docs/design.md: tools/list is paid for in every conversation's context. 28 KiB is the
    // project's own budget for the whole result (internal/packaging/budget_test.go).
    const bytes = Buffer.byteLength(JSON.stringify({ tools: c.tools }));
    assert.ok(bytes <= 28 * 1024, `tools/list is ${bytes} bytes, over 28 KiB (issues 11, 21)`);
    // What the model sees of each tool (name, title, description, inputSchema): at most 12 KiB.
    const visible = c.tools.reduce((n, x) => n + Buffer.byteLength(JSON.stringify({ name: x.name, title: x.title, description: x.description, inputSchema: x.inputSchema })), 0);
    assert.ok(visible <= 12 * 1024, `the model-visible part of tools/list is ${visible} bytes, over 12 KiB (issues 11, 20)`);
  });
});
